/* syncrt.c - the runtime-wide status texts, the error struct helpers and the real clock. */
#include "syncrt/syncrt.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

const char *syncrt_strerror(syncrt_status status)
{
    switch (status) {
    case SYNCRT_OK: return "no error";
    case SYNCRT_ENOMEM: return "out of memory";
    case SYNCRT_EINVAL: return "invalid argument";
    case SYNCRT_EIO: return "input/output error";
    case SYNCRT_ESTORE: return "state store error";
    case SYNCRT_ESCHEMA: return "state store schema is newer than this runtime";
    case SYNCRT_ENOTFOUND: return "not found";
    case SYNCRT_EEMPTY: return "nothing ready";
    case SYNCRT_ELEASE: return "lease lost";
    case SYNCRT_ECONNECT: return "could not connect";
    case SYNCRT_ETIMEOUT: return "timed out";
    case SYNCRT_ETLS: return "TLS failure";
    case SYNCRT_EHTTP: return "transport failure";
    case SYNCRT_EAUTH: return "authentication failed";
    case SYNCRT_EPERM: return "secret file is readable by others";
    case SYNCRT_EPARSE: return "malformed input";
    case SYNCRT_ERANGE: return "value out of range";
    case SYNCRT_ECIRCUIT: return "circuit breaker open";
    case SYNCRT_EFILTERED: return "filtered out by a where condition";
    case SYNCRT_STATUS_LAST: break;
    }
    return "unknown status";
}

syncrt_status syncrt_error_set(syncrt_error *err, syncrt_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->status = status;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return status;
}

void syncrt_error_clear(syncrt_error *err)
{
    if (err) {
        err->status = SYNCRT_OK;
        err->message[0] = '\0';
    }
}

int64_t syncrt_clock_real(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
