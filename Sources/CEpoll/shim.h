#ifndef CEPOLL_SHIM_H
#define CEPOLL_SHIM_H

// Linux's epoll, eventfd and timerfd, which Swift's Glibc module leaves out: the pool's event dispatch.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>

#endif
