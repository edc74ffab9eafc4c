/* retry.c - classification of attempts, full-jitter backoff, Retry-After parsing, AIMD
 * concurrency limiter, adaptive request pacer and circuit breaker (the contract is in
 * syncrt/retry.h). */
#include "syncrt/retry.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

const char *syncrt_retry_class_name(syncrt_retry_class c)
{
    switch (c) {
    case SYNCRT_CLASS_OK: return "ok";
    case SYNCRT_CLASS_TRANSIENT: return "transient";
    case SYNCRT_CLASS_AUTH: return "auth";
    case SYNCRT_CLASS_VALIDATION: return "validation";
    case SYNCRT_CLASS_BUSINESS: return "business";
    case SYNCRT_CLASS_UNKNOWN_OUTCOME: return "unknown outcome";
    }
    return "?";
}

const char *syncrt_retry_action_name(syncrt_retry_action a)
{
    switch (a) {
    case SYNCRT_ACTION_DONE: return "done";
    case SYNCRT_ACTION_RETRY: return "retry";
    case SYNCRT_ACTION_PROBE: return "probe";
    case SYNCRT_ACTION_PAUSE: return "pause";
    case SYNCRT_ACTION_DEAD_LETTER: return "dead-letter";
    }
    return "?";
}

/* Case-insensitive substring search. */
static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    return 0;
}

int syncrt_retry_is_validation_text(const char *text)
{
    /* Words F&O's innererror and CEF's ResponseStatus use for rejected input. */
    static const char *const words[] = {
        "validat", "invalid", "is required", "required field", "must be", "must not",
        "not valid", "cannot be", "can not be", "is not allowed", "exceeds", "too long",
        "not a valid", "does not match", "format", "\"Errors\":[{",
    };
    size_t i;
    if (!text)
        return 0;
    for (i = 0; i < sizeof words / sizeof words[0]; i++)
        if (contains_ci(text, words[i]))
            return 1;
    return 0;
}

syncrt_retry_class syncrt_retry_classify(const syncrt_attempt *a)
{
    long s = a->http_status;

    if (a->transport != SYNCRT_OK) {
        if (a->transport == SYNCRT_ETLS)
            return SYNCRT_CLASS_AUTH;          /* trust problem: configuration, not weather */
        if (a->transport == SYNCRT_ECONNECT || !a->request_sent || a->idempotent)
            return SYNCRT_CLASS_TRANSIENT;
        return SYNCRT_CLASS_UNKNOWN_OUTCOME;   /* timeout / drop after a write went out */
    }
    if (s >= 200 && s < 300)
        return SYNCRT_CLASS_OK;
    if (s == 401 || s == 403)
        return SYNCRT_CLASS_AUTH;
    if (s == 408 || s == 429)
        return SYNCRT_CLASS_TRANSIENT;
    if ((s == 502 || s == 504) && !a->idempotent)
        return SYNCRT_CLASS_UNKNOWN_OUTCOME;   /* the gateway may have forwarded the write */
    if (s >= 500 && s < 600)
        return SYNCRT_CLASS_TRANSIENT;
    if ((s == 400 || s == 422) && syncrt_retry_is_validation_text(a->body))
        return SYNCRT_CLASS_VALIDATION;
    return SYNCRT_CLASS_BUSINESS;
}

void syncrt_rng_seed(syncrt_rng *rng, uint64_t seed)
{
    rng->state = seed;
}

uint64_t syncrt_rng_next(syncrt_rng *rng)
{
    uint64_t z = (rng->state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

int64_t syncrt_rng_upto(syncrt_rng *rng, int64_t bound)
{
    uint64_t range, limit, x;
    if (bound <= 0)
        return 0;
    range = (uint64_t)bound + 1;
    /* rejection sampling: no modulo bias */
    limit = UINT64_MAX - UINT64_MAX % range;
    do
        x = syncrt_rng_next(rng);
    while (x >= limit);
    return (int64_t)(x % range);
}

int64_t syncrt_retry_ceiling(const syncrt_retry_policy *p, int attempt)
{
    int64_t c = p->base_ms > 0 ? p->base_ms : 0;
    int i;
    if (attempt < 1)
        attempt = 1;
    for (i = 1; i < attempt && c < p->cap_ms; i++)
        c = c > p->cap_ms / 2 ? p->cap_ms : c * 2;
    return c < p->cap_ms ? c : p->cap_ms;
}

int64_t syncrt_retry_backoff(const syncrt_retry_policy *p, syncrt_rng *rng, int attempt)
{
    return syncrt_rng_upto(rng, syncrt_retry_ceiling(p, attempt));
}

void syncrt_retry_decide(syncrt_retry_decision *out, const syncrt_retry_policy *p,
                         syncrt_rng *rng, syncrt_retry_class c, int attempts,
                         int64_t retry_after_ms)
{
    out->delay_ms = 0;
    switch (c) {
    case SYNCRT_CLASS_OK:
        out->action = SYNCRT_ACTION_DONE;
        out->reason = "delivered";
        return;
    case SYNCRT_CLASS_AUTH:
        out->action = SYNCRT_ACTION_PAUSE;
        out->delay_ms = retry_after_ms >= 0 ? retry_after_ms : p->cap_ms;
        out->reason = "authentication or trust failure: flow paused";
        return;
    case SYNCRT_CLASS_VALIDATION:
        out->action = SYNCRT_ACTION_DEAD_LETTER;
        out->reason = "validation error";
        return;
    case SYNCRT_CLASS_BUSINESS:
        out->action = SYNCRT_ACTION_DEAD_LETTER;
        out->reason = "business rule violation";
        return;
    case SYNCRT_CLASS_UNKNOWN_OUTCOME:
        out->action = SYNCRT_ACTION_PROBE;
        out->reason = "unknown outcome: probe by key before resending";
        return;
    case SYNCRT_CLASS_TRANSIENT:
        break;
    }
    if (attempts >= p->max_attempts) {
        out->action = SYNCRT_ACTION_DEAD_LETTER;
        out->reason = "retries exhausted";
        return;
    }
    out->action = SYNCRT_ACTION_RETRY;
    out->reason = retry_after_ms >= 0 ? "transient failure: Retry-After" : "transient failure: backoff";
    out->delay_ms = retry_after_ms >= 0 ? retry_after_ms : syncrt_retry_backoff(p, rng, attempts);
}

/* ---- HTTP dates (RFC 9110 section 5.6.7) ---- */

static int month_index(const char *m)
{
    static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    int i;
    for (i = 0; i < 12; i++)
        if (strncmp(m, months[i], 3) == 0 && m[3] == '\0')
            return i;
    return -1;
}

static int day_name_ok(const char *d, int long_form)
{
    static const char *const short_days[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
    static const char *const long_days[] = { "Monday", "Tuesday", "Wednesday", "Thursday",
                                             "Friday", "Saturday", "Sunday" };
    int i;
    for (i = 0; i < 7; i++)
        if (strcmp(d, long_form ? long_days[i] : short_days[i]) == 0)
            return 1;
    return 0;
}

syncrt_status syncrt_http_date_parse(int64_t *out_ms, const char *value)
{
    char day[16], mon[8], zone[8], tail;
    int d = 0, y = 0, hh = 0, mm = 0, ss = 0, m;
    struct tm tm;
    time_t t;

    *out_ms = 0;
    if (!value)
        return SYNCRT_EPARSE;
    while (*value == ' ' || *value == '\t')
        value++;
    /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
    if (sscanf(value, "%3[A-Za-z], %2d %3s %4d %2d:%2d:%2d %3s %c", day, &d, mon, &y, &hh, &mm,
               &ss, zone, &tail) == 8 && day_name_ok(day, 0)) {
        /* ok */
    /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
    } else if (sscanf(value, "%9[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d %3s %c", day, &d, mon,
                      &y, &hh, &mm, &ss, zone, &tail) == 8 && day_name_ok(day, 1)) {
        y += y < 70 ? 2000 : 1900;     /* RFC 9110: interpret 50+ years ahead as the past */
    /* asctime: Sun Nov  6 08:49:37 1994 */
    } else if (sscanf(value, "%3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d %c", day, mon, &d, &hh,
                      &mm, &ss, &y, &tail) == 7 && day_name_ok(day, 0)) {
        strcpy(zone, "GMT");
    } else {
        return SYNCRT_EPARSE;
    }
    m = month_index(mon);
    if (m < 0 || strcmp(zone, "GMT") != 0 || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60 ||
        y < 1970)
        return SYNCRT_EPARSE;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = m;
    tm.tm_mday = d;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return SYNCRT_EPARSE;
    *out_ms = (int64_t)t * 1000;
    return SYNCRT_OK;
}

syncrt_status syncrt_retry_after_parse(int64_t *delay_ms, const char *value, int64_t now_ms)
{
    const char *p;
    int64_t secs = 0, at = 0;

    *delay_ms = 0;
    if (!value)
        return SYNCRT_EPARSE;
    for (p = value; *p == ' ' || *p == '\t'; p++)
        ;
    if (isdigit((unsigned char)*p)) {
        for (; isdigit((unsigned char)*p); p++) {
            if (secs > (INT64_MAX / 1000 - 9) / 10)
                return SYNCRT_EPARSE;
            secs = secs * 10 + (*p - '0');
        }
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p)
            return SYNCRT_EPARSE;
        *delay_ms = secs * 1000;
        return SYNCRT_OK;
    }
    if (syncrt_http_date_parse(&at, p) != SYNCRT_OK)
        return SYNCRT_EPARSE;
    *delay_ms = at > now_ms ? at - now_ms : 0;
    return SYNCRT_OK;
}

/* ---- adaptive concurrency ---- */

void syncrt_limiter_init(syncrt_limiter *l, int initial, int min_limit, int max_limit,
                         int64_t decrease_interval_ms)
{
    memset(l, 0, sizeof *l);
    l->min_limit = min_limit < 1 ? 1 : min_limit;
    l->max_limit = max_limit < l->min_limit ? l->min_limit : max_limit;
    if (initial < l->min_limit)
        initial = l->min_limit;
    if (initial > l->max_limit)
        initial = l->max_limit;
    l->limit = initial;
    l->decrease_interval_ms = decrease_interval_ms;
    l->last_decrease = INT64_MIN / 2;
}

int syncrt_limiter_limit(const syncrt_limiter *l)
{
    return (int)l->limit;
}

syncrt_status syncrt_limiter_acquire(syncrt_limiter *l, int64_t *wait_ms, int64_t now_ms)
{
    *wait_ms = 0;
    if (now_ms < l->blocked_until) {
        *wait_ms = l->blocked_until - now_ms;
        return SYNCRT_EEMPTY;
    }
    if (l->in_flight >= (int)l->limit)
        return SYNCRT_EEMPTY;
    l->in_flight++;
    return SYNCRT_OK;
}

void syncrt_limiter_release(syncrt_limiter *l, syncrt_retry_class c, int throttled,
                            int64_t retry_after_ms, int64_t now_ms)
{
    if (l->in_flight > 0)
        l->in_flight--;
    if (throttled) {
        if (retry_after_ms >= 0 && now_ms + retry_after_ms > l->blocked_until)
            l->blocked_until = now_ms + retry_after_ms;
        if (now_ms - l->last_decrease >= l->decrease_interval_ms) {
            l->limit /= 2;
            if (l->limit < l->min_limit)
                l->limit = l->min_limit;
            l->last_decrease = now_ms;
        }
        return;
    }
    if (c == SYNCRT_CLASS_OK) {
        l->limit += 1.0 / l->limit;
        if (l->limit > l->max_limit)
            l->limit = l->max_limit;
    }
}

/* ---- adaptive pacing ---- */

void syncrt_pacer_init(syncrt_pacer *p, double max_rate, int64_t window_ms,
                       int64_t decrease_interval_ms)
{
    memset(p, 0, sizeof *p);
    p->max_rate = max_rate > 0 ? max_rate : 0;
    p->rate = p->max_rate;
    p->min_rate = 0.5;
    p->decrease = 0.9;
    p->increase = 1.0;
    p->probe_increase = 0.1;
    p->estimate_factor = 0.95;
    p->window_ms = window_ms > 0 ? window_ms : 5000;
    if (p->window_ms < SYNCRT_PACER_BINS)
        p->window_ms = SYNCRT_PACER_BINS;
    p->min_span_ms = p->window_ms / 5;
    p->decrease_interval_ms = decrease_interval_ms > 0 ? decrease_interval_ms : 1000;
    p->last_decrease = INT64_MIN / 2;
    p->active_since = INT64_MIN / 2;
    p->last_start = INT64_MIN / 2;
    p->next_at = 0;
}

/* 0 when a start is allowed at now_ms, else the milliseconds until it is (>= 1). */
static int64_t pacer_due(const syncrt_pacer *p, int64_t now_ms)
{
    double w;
    if (p->rate <= 0 || (double)now_ms >= p->next_at)
        return 0;
    w = p->next_at - (double)now_ms;
    return w < 1 ? 1 : (int64_t)(w + 0.999999);
}

/* Takes the start due at now_ms. */
static void pacer_take(syncrt_pacer *p, int64_t now_ms)
{
    double now = (double)now_ms;
    if (now_ms - p->last_start > p->window_ms)
        p->active_since = now_ms;          /* after a pause longer than the window: new traffic */
    p->last_start = now_ms;
    if (p->rate > 0) {
        double interval = 1000.0 / p->rate;
        /* started within one interval of its due time: requests are queueing behind the pacer */
        p->saturated = now < p->next_at + interval;
        p->next_at = (p->next_at > now ? p->next_at : now) + interval;
    } else {
        p->saturated = 0;
        p->next_at = now;
    }
}

syncrt_status syncrt_pacer_acquire(syncrt_pacer *p, int64_t *wait_ms, int64_t now_ms)
{
    *wait_ms = pacer_due(p, now_ms);
    if (*wait_ms > 0) {
        p->saturated = 1;
        return SYNCRT_EEMPTY;
    }
    pacer_take(p, now_ms);
    return SYNCRT_OK;
}

static int64_t pacer_bin_ms(const syncrt_pacer *p)
{
    return p->window_ms / SYNCRT_PACER_BINS;
}

double syncrt_pacer_measured(const syncrt_pacer *p, int64_t now_ms)
{
    int64_t from = now_ms - p->window_ms, bin = pacer_bin_ms(p), now_epoch, first_epoch;
    long n = 0;
    int i;
    if (p->active_since > from)
        from = p->active_since;
    if (now_ms - from < p->min_span_ms || now_ms <= from)
        return 0;
    now_epoch = now_ms / bin;
    first_epoch = from / bin;
    for (i = 0; i < SYNCRT_PACER_BINS; i++)
        if (p->bin_epoch[i] >= first_epoch && p->bin_epoch[i] <= now_epoch)
            n += p->bin_count[i];       /* first_epoch >= now_epoch - BINS: each slot one epoch */
    return (double)n * 1000.0 / (double)(now_ms - from);
}

void syncrt_pacer_release(syncrt_pacer *p, int answered, syncrt_retry_class c, int throttled,
                          int64_t now_ms)
{
    if (throttled) {
        double m, r, drew = p->rate;
        p->throttled++;
        if (now_ms - p->last_decrease < p->decrease_interval_ms)
            return;                         /* this window of 429s has decreased already */
        m = syncrt_pacer_measured(p, now_ms);
        if (m <= 0)
            return;                         /* too early to measure: the Retry-After blocks */
        r = m * p->decrease;
        if (drew > 0 && r > drew * p->decrease)
            r = drew * p->decrease;
        if (r < p->min_rate)
            r = p->min_rate;
        if (p->max_rate > 0 && r > p->max_rate)
            r = p->max_rate;
        /* the limit lies below the rate that drew the 429 and near what was admitted */
        p->estimate = drew <= 0 ? 0 : m < drew * p->estimate_factor ? m : drew * p->estimate_factor;
        p->rate = r;
        p->last_decrease = now_ms;
        p->decreases++;
        return;
    }
    if (!answered)
        return;
    {
        int64_t epoch = now_ms / pacer_bin_ms(p);
        int i = (int)(epoch % SYNCRT_PACER_BINS);
        if (i < 0)
            i += SYNCRT_PACER_BINS;
        if (p->bin_epoch[i] != epoch) {
            p->bin_epoch[i] = epoch;
            p->bin_count[i] = 0;
        }
        p->bin_count[i]++;
    }
    if (c == SYNCRT_CLASS_OK && p->rate > 0 && p->saturated) {
        double step = p->estimate > 0 && p->rate >= p->estimate ? p->probe_increase : p->increase;
        p->rate += step / p->rate;
        if (p->max_rate > 0 && p->rate > p->max_rate)
            p->rate = p->max_rate;
    }
}

/* ---- circuit breaker ---- */

void syncrt_breaker_init(syncrt_breaker *b, int threshold, int64_t open_ms, int64_t max_open_ms)
{
    memset(b, 0, sizeof *b);
    b->state = SYNCRT_BREAKER_CLOSED;
    b->threshold = threshold < 1 ? 1 : threshold;
    b->open_ms = open_ms;
    b->max_open_ms = max_open_ms < open_ms ? open_ms : max_open_ms;
    b->current_open_ms = open_ms;
}

syncrt_status syncrt_breaker_allow(syncrt_breaker *b, int64_t *wait_ms, int64_t now_ms)
{
    *wait_ms = 0;
    switch (b->state) {
    case SYNCRT_BREAKER_CLOSED:
        return SYNCRT_OK;
    case SYNCRT_BREAKER_OPEN:
        if (now_ms < b->opened_at + b->current_open_ms) {
            *wait_ms = b->opened_at + b->current_open_ms - now_ms;
            return SYNCRT_ECIRCUIT;
        }
        b->state = SYNCRT_BREAKER_HALF_OPEN;
        b->probe_in_flight = 1;
        return SYNCRT_OK;
    case SYNCRT_BREAKER_HALF_OPEN:
        if (b->probe_in_flight)
            return SYNCRT_ECIRCUIT;     /* wait for the probe's verdict */
        b->probe_in_flight = 1;
        return SYNCRT_OK;
    }
    return SYNCRT_ECIRCUIT;
}

static void breaker_open(syncrt_breaker *b, int64_t now_ms)
{
    b->state = SYNCRT_BREAKER_OPEN;
    b->opened_at = now_ms;
    b->probe_in_flight = 0;
}

void syncrt_breaker_record(syncrt_breaker *b, syncrt_retry_class c, int throttled, int64_t now_ms)
{
    int failure = !throttled && (c == SYNCRT_CLASS_TRANSIENT || c == SYNCRT_CLASS_UNKNOWN_OUTCOME);

    if (b->state == SYNCRT_BREAKER_HALF_OPEN) {
        b->probe_in_flight = 0;
        if (failure) {
            b->current_open_ms = b->current_open_ms > b->max_open_ms / 2 ? b->max_open_ms
                                                                          : b->current_open_ms * 2;
            breaker_open(b, now_ms);
        } else if (!throttled) {
            b->state = SYNCRT_BREAKER_CLOSED;
            b->failures = 0;
            b->current_open_ms = b->open_ms;
        }
        return;
    }
    if (b->state == SYNCRT_BREAKER_OPEN)
        return;                         /* a straggler from before the breaker opened */
    if (!failure) {
        if (!throttled)
            b->failures = 0;
        return;
    }
    if (++b->failures >= b->threshold)
        breaker_open(b, now_ms);
}

/* ---- endpoint: limiter + breaker ---- */

void syncrt_endpoint_init(syncrt_endpoint *e, const syncrt_endpoint_config *c)
{
    static const syncrt_endpoint_config defaults = { 0, 0, 0, 0, 0, 0, 0 };
    if (!c)
        c = &defaults;
    syncrt_limiter_init(&e->limiter, c->initial > 0 ? c->initial : 8, c->min_limit > 0 ? c->min_limit : 1,
                        c->max_limit > 0 ? c->max_limit : 64,
                        c->decrease_interval_ms > 0 ? c->decrease_interval_ms : 1000);
    syncrt_pacer_init(&e->pacer, 0, 0, c->decrease_interval_ms > 0 ? c->decrease_interval_ms : 1000);
    syncrt_breaker_init(&e->breaker, c->breaker_threshold > 0 ? c->breaker_threshold : 5,
                        c->breaker_open_ms > 0 ? c->breaker_open_ms : 5000,
                        c->breaker_max_open_ms > 0 ? c->breaker_max_open_ms : 300000);
}

void syncrt_endpoint_pace(syncrt_endpoint *e, double max_rate, int64_t window_ms)
{
    syncrt_pacer_init(&e->pacer, max_rate, window_ms, e->pacer.decrease_interval_ms);
}

syncrt_status syncrt_endpoint_acquire(syncrt_endpoint *e, int64_t *wait_ms, int64_t now_ms)
{
    syncrt_status st = syncrt_limiter_acquire(&e->limiter, wait_ms, now_ms);
    if (st != SYNCRT_OK)
        return st;
    *wait_ms = pacer_due(&e->pacer, now_ms);
    if (*wait_ms > 0) {
        e->pacer.saturated = 1;
        if (e->limiter.in_flight > 0)
            e->limiter.in_flight--;     /* give the slot back */
        return SYNCRT_EEMPTY;
    }
    st = syncrt_breaker_allow(&e->breaker, wait_ms, now_ms);
    if (st != SYNCRT_OK) {
        if (e->limiter.in_flight > 0)
            e->limiter.in_flight--;     /* give the slot back */
        return st;
    }
    pacer_take(&e->pacer, now_ms);
    return SYNCRT_OK;
}

syncrt_retry_class syncrt_endpoint_release(syncrt_endpoint *e, int64_t *retry_after_ms,
                                           const syncrt_attempt *a, const char *retry_after_header,
                                           int64_t now_ms)
{
    syncrt_retry_class c = syncrt_retry_classify(a);
    int64_t ra = -1;
    int throttled;
    if (retry_after_header && syncrt_retry_after_parse(&ra, retry_after_header, now_ms) != SYNCRT_OK)
        ra = -1;
    throttled = a->transport == SYNCRT_OK && (a->http_status == 429 || (a->http_status == 503 && ra >= 0));
    syncrt_limiter_release(&e->limiter, c, throttled, ra, now_ms);
    syncrt_pacer_release(&e->pacer, a->transport == SYNCRT_OK, c, throttled, now_ms);
    syncrt_breaker_record(&e->breaker, c, throttled, now_ms);
    if (retry_after_ms)
        *retry_after_ms = ra;
    return c;
}
