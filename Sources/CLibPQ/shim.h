#ifndef CLIBPQ_SHIM_H
#define CLIBPQ_SHIM_H

#include <libpq-fe.h>

/// PG_DIAG_SQLSTATE is a character constant macro ('C') that Swift imports as
/// a plain Int32 only through a function.
static inline char *CLibPQ_sqlState(const PGresult *result) {
    return PQresultErrorField(result, PG_DIAG_SQLSTATE);
}

#endif
