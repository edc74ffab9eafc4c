/* log.c - the sync binary's log: one line per event on stderr,
 *   ts=2026-07-30T12:00:00.123Z level=info event=delivered flow=OrderToCash id=5 ...
 * The library hands events over with their fields (no secrets: credentials never enter
 * them, URLs and headers are redacted by the http module); the level filter is here. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "syncrt/isotime.h"
#include "sync.h"

static syncrt_log_level min_level = SYNCRT_LOG_INFO;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

void sync_log_set_level(const char *level)
{
    if (!level)
        return;
    for (int l = SYNCRT_LOG_DEBUG; l <= SYNCRT_LOG_ALERT; l++)
        if (!strcmp(level, syncrt_log_level_name((syncrt_log_level)l)))
            min_level = (syncrt_log_level)l;
}

void sync_log(void *ctx, syncrt_log_level level, const char *event, const char *fields)
{
    (void)ctx;
    if (level < min_level)
        return;
    char ts[SYNCRT_ISO_LENGTH];
    syncrt_iso_format(ts, syncrt_clock_real(NULL));
    pthread_mutex_lock(&log_mu);
    fprintf(stderr, "ts=%s level=%s event=%s%s%s\n", ts, syncrt_log_level_name(level), event,
            fields && *fields ? " " : "", fields ? fields : "");
    fflush(stderr);
    pthread_mutex_unlock(&log_mu);
}

void sync_logf(syncrt_log_level level, const char *event, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    sync_log(NULL, level, event, buf);
}
