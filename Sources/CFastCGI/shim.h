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

#endif
