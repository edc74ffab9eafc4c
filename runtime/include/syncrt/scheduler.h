/* scheduler.h - when each flow runs: interval triggers (`trigger poll ... every 60s`,
 * `trigger schedule every 1h`) and five-field cron expressions (`trigger schedule "0 2 * * *"`,
 * specs/language.md), with the next fire time computed from an injectable clock
 * (syncrt_clock_fn) so tests are deterministic.
 *
 * Cron expressions: "minute hour day-of-month month day-of-week", fields separated by blanks,
 * evaluated in UTC.  Each field is a comma list of items: `*`, `N`, `A-B`, each optionally
 * followed by `/STEP` (`*` or `A-B` stepped; `N/STEP` means N to the field's maximum).
 * Ranges: minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or jan-dec, day-of-week
 * 0-7 or sun-sat (0 and 7 are Sunday); names are case-insensitive.  Day rule (as in Vixie
 * cron): when both day-of-month and day-of-week are restricted (neither starts with `*`) a day
 * matches if EITHER matches; otherwise the restricted one alone decides.  A bad expression is
 * SYNCRT_EPARSE with the 1-based character position in the message
 * ("cron: position 7: hour 24 out of range 0-23").
 *
 * The scheduler itself holds entries (interval or cron) and says which one is due now.  It is
 * not thread-safe: one thread owns it. */
#ifndef SYNCRT_SCHEDULER_H
#define SYNCRT_SCHEDULER_H

#include "syncrt/syncrt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint64_t minutes;          /* bit m: minute m matches */
    uint32_t hours;            /* bit h */
    uint32_t mdays;            /* bit d (1-31) */
    uint16_t months;           /* bit m (1-12) */
    uint8_t wdays;             /* bit w (0-6, 0 Sunday) */
    int mday_any, wday_any;    /* 1: the field started with '*' (see the day rule) */
} syncrt_cron;

/* Parses expr into *out; SYNCRT_EPARSE with the position on error. */
syncrt_status syncrt_cron_parse(syncrt_cron *out, const char *expr, syncrt_error *err);

/* The first matching minute strictly after after_ms (ms since the epoch, UTC), in ms; -1 when
 * no minute in the next 28 years matches (e.g. "0 0 30 2 *"). */
int64_t syncrt_cron_next(const syncrt_cron *c, int64_t after_ms);

typedef enum {
    SYNCRT_SCHED_INTERVAL = 0,
    SYNCRT_SCHED_CRON
} syncrt_sched_kind;

typedef struct syncrt_scheduler syncrt_scheduler;

/* clock NULL: syncrt_clock_real. */
syncrt_status syncrt_scheduler_new(syncrt_scheduler **out, syncrt_clock_fn clock, void *clock_ctx,
                                   syncrt_error *err);
void syncrt_scheduler_free(syncrt_scheduler *s);

/* An entry every every_ms (> 0); first due at once when first_now is 1, else after every_ms.
 * The caller's tag comes back from syncrt_scheduler_take. */
syncrt_status syncrt_scheduler_add_interval(syncrt_scheduler *s, int64_t every_ms, int first_now,
                                            size_t tag, syncrt_error *err);
/* An entry at every match of a cron expression (first: the next match after now). */
syncrt_status syncrt_scheduler_add_cron(syncrt_scheduler *s, const char *expr, size_t tag,
                                        syncrt_error *err);

/* When an entry is due at the clock's now: 1 with its tag and kind, and the entry is moved to
 * its next fire time (interval: one period after the time it was due, or after now if that is
 * already past, so a slow run is not followed by a burst; cron: the next match after now).
 * 0 when nothing is due.  Entries due at the same time come out in the order they were added. */
int syncrt_scheduler_take(syncrt_scheduler *s, size_t *tag, syncrt_sched_kind *kind);

/* Milliseconds from now until the earliest entry is due (0 when one is due already); -1 when
 * there are no entries or none will ever fire. */
int64_t syncrt_scheduler_wait_ms(const syncrt_scheduler *s);

/* The next fire time (ms since the epoch) of the entry with this tag, -1 when none. */
int64_t syncrt_scheduler_next(const syncrt_scheduler *s, size_t tag);

#ifdef __cplusplus
}
#endif
#endif
