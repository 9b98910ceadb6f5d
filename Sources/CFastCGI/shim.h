#ifndef CFASTCGI_SHIM_H
#define CFASTCGI_SHIM_H

#include <errno.h>
#include <fastcgi.h>
#include <fcgiapp.h>
#include <unistd.h>

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

/// Whether the web server asked to keep the connection after the current request (FCGI_KEEP_CONN).
static inline int CFastCGI_RequestKeepsConnection(const FCGX_Request *request) {
    return request->keepConnection;
}

/// Ends the current request of a connection the web server asked to keep but that is closing, so that the web
/// server drops it instead of keeping it: writes the output still buffered, then in one write the end of the output,
/// FCGI_END_REQUEST and one more (empty) record after it, and marks the output closed so that FCGX_Finish_r writes
/// nothing more. nginx keeps an upstream connection only when FCGI_END_REQUEST is the last thing it read
/// (ngx_http_fastcgi_input_filter); with data after it, it closes the connection itself, and so never sends another
/// request on a connection that this end is closing. Returns 0, or -1 when there is no request or a write failed.
static inline int CFastCGI_EndRequestRefusingKeepAlive(FCGX_Request *request) {
    if (request->ipcFd < 0 || request->out == NULL || request->out->wasFCloseCalled) return -1;
    if (FCGX_FFlush(request->out) != 0) return -1;
    unsigned char high = (unsigned char)(request->requestId >> 8), low = (unsigned char)request->requestId;
    unsigned int status = (unsigned int)request->appStatus;
    unsigned char records[] = {
        FCGI_VERSION_1, FCGI_STDOUT, high, low, 0, 0, 0, 0,
        FCGI_VERSION_1, FCGI_END_REQUEST, high, low, 0, 8, 0, 0,
        (unsigned char)(status >> 24), (unsigned char)(status >> 16), (unsigned char)(status >> 8), (unsigned char)status,
        FCGI_REQUEST_COMPLETE, 0, 0, 0,
        FCGI_VERSION_1, FCGI_STDERR, high, low, 0, 0, 0, 0,
    };
    size_t sent = 0;
    while (sent < sizeof(records)) {
        ssize_t n = write(request->ipcFd, records + sent, sizeof(records) - sent);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        sent += (size_t)n;
    }
    request->out->wasFCloseCalled = 1;
    request->out->isClosed = 1;
    return 0;
}

#endif
