/* scheduler.c - interval and cron triggers and their next fire times (see syncrt/scheduler.h).
 * Calendar arithmetic is done on day numbers (days since 1970-01-01, proleptic Gregorian,
 * UTC) so no time zone or libc time function is involved. */
#include "syncrt/scheduler.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MS_PER_MIN 60000LL
#define MS_PER_DAY 86400000LL
#define SEARCH_DAYS (366 * 28)     /* every day-of-month/month/weekday combination recurs */

/* ---- calendar ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Day number -> year, month (1-12), day (1-31).  Works on 400-year eras of 146097 days. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;                                   /* shift the epoch to 0000-03-01 */
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;                /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;              /* March = 0 */
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int weekday(int64_t z)                      /* 0 Sunday; 1970-01-01 was a Thursday */
{
    return (int)(((z % 7) + 7 + 4) % 7);
}

/* ---- parsing ---- */

typedef struct {
    const char *name;
    int lo, hi;
    const char *const *names;  /* names[i] is value lo_name + i */
    int names_base;
} field_def;

static const char *const month_names[] = { "jan", "feb", "mar", "apr", "may", "jun", "jul",
                                           "aug", "sep", "oct", "nov", "dec", NULL };
static const char *const day_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL };

static const field_def fields[5] = {
    { "minute", 0, 59, NULL, 0 },
    { "hour", 0, 23, NULL, 0 },
    { "day-of-month", 1, 31, NULL, 0 },
    { "month", 1, 12, month_names, 1 },
    { "day-of-week", 0, 7, day_names, 0 },
};

typedef struct {
    const char *start;
    const char *p;
    syncrt_error *err;
} parser;

static syncrt_status perr(parser *ps, const char *at, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static syncrt_status perr(parser *ps, const char *at, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return syncrt_error_set(ps->err, SYNCRT_EPARSE, "cron: position %ld: %s", (long)(at - ps->start) + 1,
                            what);
}

/* A number or a name of field fd at ps->p. */
static syncrt_status value(parser *ps, const field_def *fd, int *out)
{
    const char *at = ps->p;
    if (isdigit((unsigned char)*ps->p)) {
        long v = 0;
        while (isdigit((unsigned char)*ps->p)) {
            if (v < 1000)
                v = v * 10 + (*ps->p - '0');
            ps->p++;
        }
        if (v < fd->lo || v > fd->hi)
            return perr(ps, at, "%s %ld out of range %d-%d", fd->name, v, fd->lo, fd->hi);
        *out = (int)v;
        return SYNCRT_OK;
    }
    if (fd->names && isalpha((unsigned char)*ps->p)) {
        for (int i = 0; fd->names[i]; i++) {
            if (strncasecmp(ps->p, fd->names[i], 3) == 0 && !isalpha((unsigned char)ps->p[3])) {
                ps->p += 3;
                *out = fd->names_base + i;
                return SYNCRT_OK;
            }
        }
        return perr(ps, at, "unknown %s name", fd->name);
    }
    return perr(ps, at, "expected a number%s in the %s field", fd->names ? " or a name" : "", fd->name);
}

/* One field (a comma list) into the bit set *bits; *any: it started with '*'. */
static syncrt_status field(parser *ps, const field_def *fd, uint64_t *bits, int *any)
{
    syncrt_status st;
    *bits = 0;
    *any = *ps->p == '*';
    for (;;) {
        int lo, hi, step = 1, ranged;
        const char *item = ps->p;
        if (*ps->p == '*') {
            ps->p++;
            lo = fd->lo;
            hi = fd->hi;
            ranged = 1;
        } else {
            if ((st = value(ps, fd, &lo)) != SYNCRT_OK)
                return st;
            hi = lo;
            ranged = 0;
            if (*ps->p == '-') {
                ps->p++;
                if ((st = value(ps, fd, &hi)) != SYNCRT_OK)
                    return st;
                if (hi < lo)
                    return perr(ps, item, "range %d-%d of the %s field runs backwards", lo, hi, fd->name);
                ranged = 1;
            }
        }
        if (*ps->p == '/') {
            const char *at = ++ps->p;
            long v = 0;
            if (!isdigit((unsigned char)*ps->p))
                return perr(ps, at, "expected a step after '/'");
            while (isdigit((unsigned char)*ps->p)) {
                if (v < 1000)
                    v = v * 10 + (*ps->p - '0');
                ps->p++;
            }
            if (v < 1 || v > fd->hi)
                return perr(ps, at, "step %ld out of range 1-%d", v, fd->hi);
            step = (int)v;
            if (!ranged)
                hi = fd->hi;                       /* "N/S": N to the maximum */
        }
        for (int v = lo; v <= hi; v += step)
            *bits |= (uint64_t)1 << v;
        if (*ps->p != ',')
            break;
        ps->p++;
    }
    if (*ps->p && !isspace((unsigned char)*ps->p))
        return perr(ps, ps->p, "unexpected '%c' in the %s field", *ps->p, fd->name);
    return SYNCRT_OK;
}

syncrt_status syncrt_cron_parse(syncrt_cron *out, const char *expr, syncrt_error *err)
{
    parser ps;
    uint64_t bits[5];
    int any[5];
    if (!out || !expr)
        return syncrt_error_set(err, SYNCRT_EINVAL, "cron: no expression");
    ps.start = ps.p = expr;
    ps.err = err;
    for (int i = 0; i < 5; i++) {
        while (isspace((unsigned char)*ps.p))
            ps.p++;
        if (!*ps.p)
            return perr(&ps, ps.p, "missing the %s field (5 fields: minute hour day-of-month month "
                        "day-of-week)", fields[i].name);
        syncrt_status st = field(&ps, &fields[i], &bits[i], &any[i]);
        if (st != SYNCRT_OK)
            return st;
    }
    while (isspace((unsigned char)*ps.p))
        ps.p++;
    if (*ps.p)
        return perr(&ps, ps.p, "more than 5 fields");
    memset(out, 0, sizeof *out);
    out->minutes = bits[0];
    out->hours = (uint32_t)bits[1];
    out->mdays = (uint32_t)bits[2];
    out->months = (uint16_t)bits[3];
    out->wdays = (uint8_t)((bits[4] | (bits[4] >> 7)) & 0x7f);    /* 7 is Sunday too */
    out->mday_any = any[2];
    out->wday_any = any[4];
    return SYNCRT_OK;
}

static int day_matches(const syncrt_cron *c, int64_t day)
{
    int64_t y;
    int m, d;
    civil_from_days(day, &y, &m, &d);
    if (!(c->months & (1u << m)))
        return 0;
    int md = (c->mdays >> d) & 1, wd = (c->wdays >> weekday(day)) & 1;
    if (c->mday_any && c->wday_any)
        return 1;
    if (c->mday_any)
        return wd;
    if (c->wday_any)
        return md;
    return md || wd;
}

int64_t syncrt_cron_next(const syncrt_cron *c, int64_t after_ms)
{
    if (!c)
        return -1;
    int64_t t = floor_div(after_ms, MS_PER_MIN) + 1;      /* first whole minute after */
    int64_t day = floor_div(t, 1440);
    int first_min = (int)(t - day * 1440);
    for (int64_t k = 0; k < SEARCH_DAYS; k++, day++, first_min = 0) {
        if (!day_matches(c, day))
            continue;
        for (int mi = first_min; mi < 1440; mi++) {
            int h = mi / 60, m = mi % 60;
            if (!(c->hours & (1u << h))) {
                mi = h * 60 + 59;                          /* next hour */
                continue;
            }
            if (c->minutes & ((uint64_t)1 << m))
                return (day * 1440 + mi) * MS_PER_MIN;
        }
    }
    return -1;
}

/* ---- the scheduler ---- */

typedef struct {
    syncrt_sched_kind kind;
    size_t tag;
    int64_t every_ms;
    syncrt_cron cron;
    int64_t next;                                       /* -1: never */
} entry;

struct syncrt_scheduler {
    syncrt_clock_fn clock;
    void *clock_ctx;
    entry *v;
    size_t n, cap;
};

static int64_t s_now(const syncrt_scheduler *s)
{
    return s->clock ? s->clock(s->clock_ctx) : syncrt_clock_real(NULL);
}

syncrt_status syncrt_scheduler_new(syncrt_scheduler **out, syncrt_clock_fn clock, void *clock_ctx,
                                   syncrt_error *err)
{
    syncrt_scheduler *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s)
        return syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
    s->clock = clock;
    s->clock_ctx = clock_ctx;
    *out = s;
    return SYNCRT_OK;
}

void syncrt_scheduler_free(syncrt_scheduler *s)
{
    if (!s)
        return;
    free(s->v);
    free(s);
}

static entry *push(syncrt_scheduler *s, syncrt_error *err)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        entry *v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
            return NULL;
        }
        s->v = v;
        s->cap = cap;
    }
    memset(&s->v[s->n], 0, sizeof s->v[s->n]);
    return &s->v[s->n++];
}

syncrt_status syncrt_scheduler_add_interval(syncrt_scheduler *s, int64_t every_ms, int first_now,
                                            size_t tag, syncrt_error *err)
{
    if (!s || every_ms <= 0)
        return syncrt_error_set(err, SYNCRT_EINVAL, "scheduler: an interval must be > 0 ms");
    entry *e = push(s, err);
    if (!e)
        return SYNCRT_ENOMEM;
    e->kind = SYNCRT_SCHED_INTERVAL;
    e->tag = tag;
    e->every_ms = every_ms;
    e->next = s_now(s) + (first_now ? 0 : every_ms);
    return SYNCRT_OK;
}

syncrt_status syncrt_scheduler_add_cron(syncrt_scheduler *s, const char *expr, size_t tag,
                                        syncrt_error *err)
{
    syncrt_cron c;
    if (!s)
        return syncrt_error_set(err, SYNCRT_EINVAL, "scheduler: no scheduler");
    syncrt_status st = syncrt_cron_parse(&c, expr, err);
    if (st != SYNCRT_OK)
        return st;
    entry *e = push(s, err);
    if (!e)
        return SYNCRT_ENOMEM;
    e->kind = SYNCRT_SCHED_CRON;
    e->tag = tag;
    e->cron = c;
    e->next = syncrt_cron_next(&c, s_now(s));
    return SYNCRT_OK;
}

int syncrt_scheduler_take(syncrt_scheduler *s, size_t *tag, syncrt_sched_kind *kind)
{
    if (!s)
        return 0;
    int64_t now = s_now(s);
    entry *best = NULL;
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].next >= 0 && s->v[i].next <= now && (!best || s->v[i].next < best->next))
            best = &s->v[i];
    if (!best)
        return 0;
    if (tag)
        *tag = best->tag;
    if (kind)
        *kind = best->kind;
    if (best->kind == SYNCRT_SCHED_INTERVAL) {
        best->next += best->every_ms;
        if (best->next <= now)
            best->next = now + best->every_ms;
    } else {
        best->next = syncrt_cron_next(&best->cron, now);
    }
    return 1;
}

int64_t syncrt_scheduler_wait_ms(const syncrt_scheduler *s)
{
    int64_t best = -1;
    if (!s)
        return -1;
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].next >= 0 && (best < 0 || s->v[i].next < best))
            best = s->v[i].next;
    if (best < 0)
        return -1;
    int64_t now = s_now(s);
    return best <= now ? 0 : best - now;
}

int64_t syncrt_scheduler_next(const syncrt_scheduler *s, size_t tag)
{
    if (!s)
        return -1;
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].tag == tag)
            return s->v[i].next;
    return -1;
}
