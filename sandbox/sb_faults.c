/* sb_faults.c - per-emulator fault configuration and the per-request fault decision (see
 * sb_faults.h). */
#include "sb_faults.h"
#include "sb_http.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fault_cfg {
    double rate_limit;
    double rate_burst;
    int retry_after;
    long latency_ms, jitter_ms;
    double e500, e503, drop_share, hang_share;
    long drop_next, hang_next, hang_ms;
    uint64_t seed;
} fault_cfg;

struct sb_faults {
    pthread_mutex_t mu;
    fault_cfg cfg;
    uint64_t rng;
    double tokens;        /* token bucket */
    double last_refill;
    int throttled_in_row;
    long n429, n500, n503, ndrops, nhangs;
};

static void cfg_defaults(fault_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->rate_burst = 10;
    c->retry_after = 1;
    c->hang_ms = 30000;
    c->seed = 1;
}

sb_faults *sb_faults_new(void)
{
    sb_faults *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    pthread_mutex_init(&f->mu, NULL);
    cfg_defaults(&f->cfg);
    f->rng = 0x9E3779B97F4A7C15ull;
    f->tokens = f->cfg.rate_burst;
    f->last_refill = sb_now();
    return f;
}

void sb_faults_free(sb_faults *f)
{
    if (!f)
        return;
    pthread_mutex_destroy(&f->mu);
    free(f);
}

/* xorshift64*: deterministic for a seed */
static double rnd(sb_faults *f)
{
    uint64_t x = f->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    f->rng = x;
    return (double)((x * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

static int get_num(const json_t *cfg, const char *name, double lo, double hi, double *out,
                   char *err, size_t errlen)
{
    json_t *v = json_object_get(cfg, name);
    if (!v)
        return 0;
    if (!json_is_number(v)) {
        snprintf(err, errlen, "fault setting '%s' must be a number", name);
        return -1;
    }
    double d = json_number_value(v);
    if (d < lo || d > hi) {
        snprintf(err, errlen, "fault setting '%s' must be between %g and %g", name, lo, hi);
        return -1;
    }
    *out = d;
    return 1;
}

int sb_faults_update(sb_faults *f, const json_t *cfg, char *err, size_t errlen)
{
    static const char *const known[] = {
        "rate_limit", "rate_burst", "retry_after", "latency_ms", "jitter_ms",
        "error_500_share", "error_503_share", "drop_share", "drop_next", "hang_share",
        "hang_next", "hang_ms", "seed", "injected", NULL };
    if (!json_is_object(cfg)) {
        snprintf(err, errlen, "fault settings must be a JSON object");
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)cfg, k, v) {
        bool ok = false;
        for (size_t i = 0; known[i]; i++)
            if (strcmp(known[i], k) == 0)
                ok = true;
        if (!ok) {
            snprintf(err, errlen, "unknown fault setting '%s'", k);
            return -1;
        }
    }
    pthread_mutex_lock(&f->mu);
    fault_cfg c = f->cfg;
    double d;
    int rc = 0;
#define NUM(name, lo, hi, dst, conv) \
    do { int r_ = get_num(cfg, name, lo, hi, &d, err, errlen); \
         if (r_ < 0) { rc = -1; goto out; } if (r_ > 0) dst = conv(d); } while (0)
#define AS_D(x) (x)
#define AS_L(x) ((long)(x))
#define AS_I(x) ((int)(x))
#define AS_U(x) ((uint64_t)(x))
    NUM("rate_limit", 0, 1e9, c.rate_limit, AS_D);
    NUM("rate_burst", 1, 1e9, c.rate_burst, AS_D);
    NUM("retry_after", 0, 3600, c.retry_after, AS_I);
    NUM("latency_ms", 0, 600000, c.latency_ms, AS_L);
    NUM("jitter_ms", 0, 600000, c.jitter_ms, AS_L);
    NUM("error_500_share", 0, 1, c.e500, AS_D);
    NUM("error_503_share", 0, 1, c.e503, AS_D);
    NUM("drop_share", 0, 1, c.drop_share, AS_D);
    NUM("drop_next", 0, 1e9, c.drop_next, AS_L);
    NUM("hang_share", 0, 1, c.hang_share, AS_D);
    NUM("hang_next", 0, 1e9, c.hang_next, AS_L);
    NUM("hang_ms", 0, 600000, c.hang_ms, AS_L);
    NUM("seed", 0, 9007199254740992.0, c.seed, AS_U);
#undef NUM
    if (c.e500 + c.e503 > 1) {
        snprintf(err, errlen, "error_500_share + error_503_share must not exceed 1");
        rc = -1;
        goto out;
    }
    if (json_object_get(cfg, "seed"))
        f->rng = (c.seed ? c.seed : 1) * 0x9E3779B97F4A7C15ull;
    if (c.rate_limit != f->cfg.rate_limit || c.rate_burst != f->cfg.rate_burst) {
        f->tokens = c.rate_burst;
        f->last_refill = sb_now();
        f->throttled_in_row = 0;
    }
    f->cfg = c;
out:
    pthread_mutex_unlock(&f->mu);
    return rc;
}

void sb_faults_clear(sb_faults *f)
{
    pthread_mutex_lock(&f->mu);
    cfg_defaults(&f->cfg);
    f->tokens = f->cfg.rate_burst;
    f->last_refill = sb_now();
    f->throttled_in_row = 0;
    pthread_mutex_unlock(&f->mu);
}

json_t *sb_faults_to_json(sb_faults *f)
{
    pthread_mutex_lock(&f->mu);
    fault_cfg c = f->cfg;
    json_t *j = json_pack("{s:f,s:f,s:i,s:I,s:I,s:f,s:f,s:f,s:I,s:f,s:I,s:I,s:I,"
                          "s:{s:I,s:I,s:I,s:I,s:I}}",
                          "rate_limit", c.rate_limit, "rate_burst", c.rate_burst,
                          "retry_after", c.retry_after, "latency_ms", (json_int_t)c.latency_ms,
                          "jitter_ms", (json_int_t)c.jitter_ms, "error_500_share", c.e500,
                          "error_503_share", c.e503, "drop_share", c.drop_share,
                          "drop_next", (json_int_t)c.drop_next, "hang_share", c.hang_share,
                          "hang_next", (json_int_t)c.hang_next, "hang_ms", (json_int_t)c.hang_ms,
                          "seed", (json_int_t)c.seed, "injected",
                          "429", (json_int_t)f->n429, "500", (json_int_t)f->n500,
                          "503", (json_int_t)f->n503, "drops", (json_int_t)f->ndrops,
                          "hangs", (json_int_t)f->nhangs);
    pthread_mutex_unlock(&f->mu);
    return j;
}

void sb_faults_decide(sb_faults *f, bool is_write, sb_fault_decision *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&f->mu);
    fault_cfg *c = &f->cfg;
    if (c->rate_limit > 0) {
        double now = sb_now();
        f->tokens += (now - f->last_refill) * c->rate_limit;
        if (f->tokens > c->rate_burst)
            f->tokens = c->rate_burst;
        f->last_refill = now;
        if (f->tokens < 1) {
            int grow = f->throttled_in_row < 3 ? f->throttled_in_row : 3;
            f->throttled_in_row++;
            out->status = 429;
            out->retry_after = c->retry_after * (1 + grow);
            if (out->retry_after < 1)
                out->retry_after = 1;
            f->n429++;
            goto out;
        }
        f->tokens -= 1;
        f->throttled_in_row = 0;
    }
    out->delay_ms = c->latency_ms;
    if (c->jitter_ms > 0)
        out->delay_ms += (long)(rnd(f) * (double)(c->jitter_ms + 1));
    if (c->hang_next > 0 || (c->hang_share > 0 && rnd(f) < c->hang_share)) {
        if (c->hang_next > 0)
            c->hang_next--;
        out->hang = true;
        out->delay_ms = c->hang_ms > 600000 ? 600000 : c->hang_ms;
        f->nhangs++;
    }
    if (c->e500 + c->e503 > 0) {
        double r = rnd(f);
        if (r < c->e500) {
            out->status = 500;
            f->n500++;
            goto out;
        }
        if (r < c->e500 + c->e503) {
            out->status = 503;
            out->retry_after = c->retry_after;
            f->n503++;
            goto out;
        }
    }
    if (is_write && (c->drop_next > 0 || (c->drop_share > 0 && rnd(f) < c->drop_share))) {
        if (c->drop_next > 0)
            c->drop_next--;
        out->drop_after_commit = true;
        f->ndrops++;
    }
out:
    pthread_mutex_unlock(&f->mu);
}
