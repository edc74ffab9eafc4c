/* test_scheduler.c - cron parsing (lists, ranges, steps, names, errors with their position),
 * next-fire computation in UTC across month, year and leap-day boundaries, the day-of-month /
 * day-of-week OR rule, and the scheduler's interval and cron entries on an injected clock. */
#include "syncrt/isotime.h"
#include "syncrt/scheduler.h"
#include "testhelp.h"

#include <string.h>

typedef struct { int64_t now; } fake_clock;
static int64_t fake_now(void *ctx) { return ((fake_clock *)ctx)->now; }

static int64_t at(const char *iso)
{
    int64_t ms = -1;
    if (syncrt_iso_parse(&ms, iso) != SYNCRT_OK)
        printf("# bad test time %s\n", iso);
    return ms;
}

/* The next fire of expr after the ISO time, formatted, or the error text. */
static const char *next_of(const char *expr, const char *after)
{
    static char buf[300];
    syncrt_cron c;
    syncrt_error err = { SYNCRT_OK, "" };
    if (syncrt_cron_parse(&c, expr, &err) != SYNCRT_OK) {
        snprintf(buf, sizeof buf, "error: %s", err.message);
        return buf;
    }
    int64_t n = syncrt_cron_next(&c, at(after));
    if (n < 0)
        return "never";
    syncrt_iso_format(buf, n);
    return buf;
}

static const char *error_of(const char *expr)
{
    static char buf[300];
    syncrt_cron c;
    syncrt_error err = { SYNCRT_OK, "" };
    syncrt_status st = syncrt_cron_parse(&c, expr, &err);
    snprintf(buf, sizeof buf, "%s", st == SYNCRT_EPARSE ? err.message : "(parsed)");
    return buf;
}

static void test_next(void)
{
    CHECK_STR(next_of("0 2 * * *", "2026-11-27T16:55:00Z"), "2026-11-28T02:00:00.000Z",
              "daily at 02:00: tomorrow when past");
    CHECK_STR(next_of("0 2 * * *", "2026-11-27T01:59:59.999Z"), "2026-11-27T02:00:00.000Z",
              "daily at 02:00: today when before");
    CHECK_STR(next_of("0 2 * * *", "2026-11-27T02:00:00Z"), "2026-11-28T02:00:00.000Z",
              "strictly after: a fire time itself is not returned");
    CHECK_STR(next_of("* * * * *", "2026-11-27T10:20:30Z"), "2026-11-27T10:21:00.000Z",
              "every minute: the next whole minute");
    CHECK_STR(next_of("*/15 * * * *", "2026-11-27T10:31:00Z"), "2026-11-27T10:45:00.000Z", "*/15");
    CHECK_STR(next_of("5,10-12 * * * *", "2026-11-27T10:10:00Z"), "2026-11-27T10:11:00.000Z",
              "list and range");
    CHECK_STR(next_of("10-30/10 * * * *", "2026-11-27T10:21:00Z"), "2026-11-27T10:30:00.000Z",
              "stepped range");
    CHECK_STR(next_of("50/5 * * * *", "2026-11-27T10:56:00Z"), "2026-11-27T11:50:00.000Z",
              "N/S: N to the maximum, then the next hour");
    CHECK_STR(next_of("59 23 31 12 *", "2026-12-31T23:59:00Z"), "2027-12-31T23:59:00.000Z",
              "year boundary");
    CHECK_STR(next_of("0 0 29 feb *", "2026-03-01T00:00:00Z"), "2028-02-29T00:00:00.000Z",
              "leap day (names for months)");
    CHECK_STR(next_of("0 0 29 2 *", "2096-03-01T00:00:00Z"), "2104-02-29T00:00:00.000Z",
              "2100 is not a leap year");
    CHECK_STR(next_of("0 0 31 * *", "2026-11-01T00:00:00Z"), "2026-12-31T00:00:00.000Z",
              "the 31st skips 30-day months");
    CHECK_STR(next_of("0 0 30 2 *", "2026-01-01T00:00:00Z"), "never", "30 February never comes");
    CHECK_STR(next_of("0 9 * * MON-fri", "2026-11-27T10:00:00Z"), "2026-11-30T09:00:00.000Z",
              "weekdays by name (Friday 10:00 -> Monday)");
    CHECK_STR(next_of("0 9 * * 7", "2026-11-27T10:00:00Z"), "2026-11-29T09:00:00.000Z", "7 is Sunday");
    CHECK_STR(next_of("0 9 * * 0", "2026-11-27T10:00:00Z"), "2026-11-29T09:00:00.000Z", "0 is Sunday");
    /* OR rule: the 1st of the month or any Monday */
    CHECK_STR(next_of("0 0 1 * mon", "2026-11-27T00:00:00Z"), "2026-11-30T00:00:00.000Z",
              "dom and dow both restricted: either matches (Monday first)");
    CHECK_STR(next_of("0 0 1 * mon", "2026-11-30T00:00:00Z"), "2026-12-01T00:00:00.000Z",
              "dom and dow both restricted: either matches (the 1st next)");
    CHECK_STR(next_of("0 0 */1 * mon", "2026-11-27T00:00:00Z"), "2026-11-30T00:00:00.000Z",
              "dom starting with '*' is unrestricted: only Mondays");
    CHECK_STR(next_of("0 0 13 * *", "2026-11-27T00:00:00Z"), "2026-12-13T00:00:00.000Z",
              "dow '*': dom alone decides");
    CHECK_STR(next_of("30 8 * jan,jul *", "2026-11-27T00:00:00Z"), "2027-01-01T08:30:00.000Z",
              "month list by name");
    CHECK_STR(next_of("  0   2  *  *  *  ", "2026-11-27T16:55:00Z"), "2026-11-28T02:00:00.000Z",
              "extra blanks");
}

static void test_errors(void)
{
    CHECK_STR(error_of("0 24 * * *"), "cron: position 3: hour 24 out of range 0-23", "hour out of range");
    CHECK_STR(error_of("60 * * * *"), "cron: position 1: minute 60 out of range 0-59", "minute out of range");
    CHECK_STR(error_of("0 0 0 * *"), "cron: position 5: day-of-month 0 out of range 1-31", "day 0");
    CHECK_STR(error_of("0 0 * 13 *"), "cron: position 7: month 13 out of range 1-12", "month 13");
    CHECK_STR(error_of("0 0 * * 8"), "cron: position 9: day-of-week 8 out of range 0-7", "dow 8");
    CHECK_STR(error_of("0 2 * *"), "cron: position 8: missing the day-of-week field (5 fields: minute "
              "hour day-of-month month day-of-week)", "four fields");
    CHECK_STR(error_of("0 2 * * * *"), "cron: position 11: more than 5 fields", "six fields");
    CHECK_STR(error_of("0 2 * foo *"), "cron: position 7: unknown month name", "bad month name");
    CHECK_STR(error_of("0 mon * * *"), "cron: position 3: expected a number in the hour field",
              "names only where the field has them");
    CHECK_STR(error_of("*/0 * * * *"), "cron: position 3: step 0 out of range 1-59", "step 0");
    CHECK_STR(error_of("5/ * * * *"), "cron: position 3: expected a step after '/'", "missing step");
    CHECK_STR(error_of("30-10 * * * *"), "cron: position 1: range 30-10 of the minute field runs backwards",
              "backwards range");
    CHECK_STR(error_of("1,,2 * * * *"), "cron: position 3: expected a number in the minute field", "empty item");
    CHECK_STR(error_of("1x * * * *"), "cron: position 2: unexpected 'x' in the minute field", "junk");
    CHECK_STR(error_of(""), "cron: position 1: missing the minute field (5 fields: minute hour "
              "day-of-month month day-of-week)", "empty expression");
    syncrt_cron c;
    CHECK_INT(syncrt_cron_parse(&c, NULL, NULL), SYNCRT_EINVAL, "NULL expression is EINVAL");
}

static void test_scheduler(void)
{
    fake_clock clk = { 0 };
    syncrt_scheduler *s = NULL;
    syncrt_error err = { SYNCRT_OK, "" };
    size_t tag = 99;
    syncrt_sched_kind kind = SYNCRT_SCHED_INTERVAL;
    int got;

    clk.now = at("2026-11-27T01:59:30Z");
    CHECK_INT(syncrt_scheduler_new(&s, fake_now, &clk, &err), SYNCRT_OK, "new");
    CHECK_INT(syncrt_scheduler_wait_ms(s), -1, "no entries: wait -1");
    CHECK_INT(syncrt_scheduler_take(s, &tag, &kind), 0, "no entries: nothing due");
    CHECK_INT(syncrt_scheduler_add_interval(s, 60000, 1, 1, &err), SYNCRT_OK, "interval 60s, first now");
    CHECK_INT(syncrt_scheduler_add_interval(s, 45000, 0, 2, &err), SYNCRT_OK, "interval 45s, first later");
    CHECK_INT(syncrt_scheduler_add_cron(s, "0 2 * * *", 3, &err), SYNCRT_OK, "cron 0 2 * * *");
    CHECK_INT(syncrt_scheduler_add_interval(s, 0, 1, 4, &err), SYNCRT_EINVAL, "interval 0 refused");
    CHECK_INT(syncrt_scheduler_add_cron(s, "0 2 * *", 5, &err), SYNCRT_EPARSE, "bad cron refused");
    CHECK(strstr(err.message, "position 8") != NULL, "with the position: %s", err.message);
    CHECK_INT(syncrt_scheduler_next(s, 3), at("2026-11-27T02:00:00Z"), "cron entry's first fire");
    CHECK_INT(syncrt_scheduler_wait_ms(s), 0, "the first-now interval is due");
    got = syncrt_scheduler_take(s, &tag, &kind);
    CHECK(got == 1 && tag == 1 && kind == SYNCRT_SCHED_INTERVAL,
          "take: the interval entry (tag %zu)", tag);
    CHECK_INT(syncrt_scheduler_take(s, &tag, &kind), 0, "taken once, then not due");
    CHECK_INT(syncrt_scheduler_wait_ms(s), 30000, "next: the cron at 02:00, 30 s away");
    clk.now = at("2026-11-27T02:00:00Z");
    got = syncrt_scheduler_take(s, &tag, &kind);
    CHECK(got == 1 && tag == 3 && kind == SYNCRT_SCHED_CRON,
          "02:00: the cron entry (tag %zu)", tag);
    CHECK_INT(syncrt_scheduler_next(s, 3), at("2026-11-28T02:00:00Z"), "then tomorrow 02:00");
    CHECK_INT(syncrt_scheduler_take(s, &tag, &kind), 0, "nothing else due at 02:00:00");
    clk.now = at("2026-11-27T02:00:15Z");
    got = syncrt_scheduler_take(s, &tag, &kind);
    CHECK(got == 1 && tag == 2, "02:00:15: the 45 s interval");
    CHECK_INT(syncrt_scheduler_next(s, 2), at("2026-11-27T02:01:00Z"), "its next: one period later");
    CHECK_INT(syncrt_scheduler_take(s, &tag, &kind), 0, "the 60 s interval is due at 02:00:30, not yet");
    /* a slow run: no burst of catch-up fires */
    clk.now = at("2026-11-27T02:10:00Z");
    int fired = 0;
    while (syncrt_scheduler_take(s, &tag, &kind))
        fired++;
    CHECK_INT(fired, 2, "after 10 minutes away each interval fires once, not once per missed period");
    CHECK_INT(syncrt_scheduler_next(s, 1), at("2026-11-27T02:11:00Z"), "and is rescheduled from now");
    CHECK_INT(syncrt_scheduler_next(s, 42), -1, "unknown tag");
    syncrt_scheduler_free(s);

    /* a cron that never fires */
    CHECK_INT(syncrt_scheduler_new(&s, fake_now, &clk, &err), SYNCRT_OK, "new");
    CHECK_INT(syncrt_scheduler_add_cron(s, "0 0 31 feb *", 1, &err), SYNCRT_OK, "31 February parses");
    CHECK_INT(syncrt_scheduler_wait_ms(s), -1, "but never fires");
    syncrt_scheduler_free(s);
}

int main(void)
{
    test_next();
    test_errors();
    test_scheduler();
    return test_done();
}
