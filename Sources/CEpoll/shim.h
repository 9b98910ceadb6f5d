#ifndef CEPOLL_SHIM_H
#define CEPOLL_SHIM_H

// Linux's epoll, eventfd and timerfd, which Swift's Glibc module leaves out: the pool's event dispatch.
#include <sys/epoll.h>
#include <sys/eventfd.h>

// timerfd is declared here instead of by including <sys/timerfd.h>: that header brings its own copy of
// struct timespec into this module, which Swift then took for Glibc's in the pool's other files (a clean
// build failed). Its flags are O_CLOEXEC and O_NONBLOCK (timerfd_create(2)); `new_value` is Glibc's
// struct itimerspec.
int timerfd_create(int clockid, int flags);
int timerfd_settime(int fd, int flags, const void *new_value, void *old_value);

#endif
