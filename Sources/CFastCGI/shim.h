#ifndef CFASTCGI_SHIM_H
#define CFASTCGI_SHIM_H

#include <fcgiapp.h>

/// FCGI_FAIL_ACCEPT_ON_INTR as a plain constant (the macro is imported, but
/// keeping every libfcgi constant we rely on in one place documents them).
static const int CFastCGI_FailAcceptOnIntr = FCGI_FAIL_ACCEPT_ON_INTR;

/// The connection fd libfcgi holds for a request (< 0: no open connection).
/// libfcgi marks the field private ("don't use anything below here"); the
/// pool reads it only to shut a kept connection down during a drain.
static inline int CFastCGI_RequestConnectionFD(const FCGX_Request *request) {
    return request->ipcFd;
}

/// Asks libfcgi to close the connection when this request finishes instead of
/// keeping it for the next request (used while draining).
static inline void CFastCGI_RequestDropConnection(FCGX_Request *request) {
    request->keepConnection = 0;
}

/// Hands libfcgi a connection the caller accepted (the pool's event dispatch): the request reads its
/// next request from `fd` and keeps it open between requests, as for a connection it accepted itself.
/// A request set up with no listening socket (-1) then ends in an error, not in accept(), when the
/// connection closes.
static inline void CFastCGI_RequestAdoptConnection(FCGX_Request *request, int fd) {
    request->ipcFd = fd;
    request->keepConnection = 1;
}

#endif
