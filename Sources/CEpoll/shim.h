#ifndef CEPOLL_SHIM_H
#define CEPOLL_SHIM_H

// Linux's epoll and eventfd, which Swift's Glibc module leaves out: the pool's event dispatch.
#include <sys/epoll.h>
#include <sys/eventfd.h>

#endif
