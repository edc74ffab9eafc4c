/* sb_stats.c - per route/method/status request counters (see sb_stats.h). */
#include "sb_stats.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SB_STATS_MAX_ROUTES 2048

typedef struct stat_entry {
    char *route;
    char method[12];
    unsigned status;
    long long count;
} stat_entry;

struct sb_stats {
    pthread_mutex_t mu;
    stat_entry *v;
    size_t n, cap;
    long long total;
    time_t since;
};

sb_stats *sb_stats_new(void)
{
    sb_stats *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    s->since = time(NULL);
    return s;
}

static void clear_entries(sb_stats *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].route);
    s->n = 0;
    s->total = 0;
    s->since = time(NULL);
}

void sb_stats_free(sb_stats *s)
{
    if (!s)
        return;
    clear_entries(s);
    free(s->v);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static stat_entry *find_entry(sb_stats *s, const char *route, const char *method,
                              unsigned status)
{
    for (size_t i = 0; i < s->n; i++) {
        stat_entry *e = &s->v[i];
        if (e->status == status && strcmp(e->method, method) == 0 && strcmp(e->route, route) == 0)
            return e;
    }
    return NULL;
}

void sb_stats_count(sb_stats *s, const char *route, const char *method, unsigned status)
{
    pthread_mutex_lock(&s->mu);
    s->total++;
    stat_entry *found = find_entry(s, route, method, status);
    if (!found && s->n >= SB_STATS_MAX_ROUTES) {
        /* bounded: made-up URLs cannot grow the table without limit */
        route = "(other)";
        found = find_entry(s, route, method, status);
    }
    if (found) {
        found->count++;
        goto out;
    }
    if (s->n >= SB_STATS_MAX_ROUTES + 256)
        goto out; /* only the total counts from here */
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 32;
        stat_entry *nv = realloc(s->v, nc * sizeof *nv);
        if (!nv)
            goto out;
        s->v = nv;
        s->cap = nc;
    }
    stat_entry *e = &s->v[s->n];
    e->route = strdup(route);
    if (!e->route)
        goto out;
    strncpy(e->method, method, sizeof e->method - 1);
    e->method[sizeof e->method - 1] = '\0';
    e->status = status;
    e->count = 1;
    s->n++;
out:
    pthread_mutex_unlock(&s->mu);
}

void sb_stats_reset(sb_stats *s)
{
    pthread_mutex_lock(&s->mu);
    clear_entries(s);
    pthread_mutex_unlock(&s->mu);
}

static int cmp_entry(const void *a, const void *b)
{
    const stat_entry *x = a, *y = b;
    int c = strcmp(x->route, y->route);
    if (!c)
        c = strcmp(x->method, y->method);
    if (!c)
        c = (x->status > y->status) - (x->status < y->status);
    return c;
}

json_t *sb_stats_to_json(sb_stats *s)
{
    pthread_mutex_lock(&s->mu);
    if (s->n > 1) /* qsort(NULL, 0, ...) is undefined: an empty table has no array yet */
        qsort(s->v, s->n, sizeof *s->v, cmp_entry);
    json_t *routes = json_array();
    for (size_t i = 0; routes && i < s->n; i++)
        json_array_append_new(routes, json_pack("{s:s,s:s,s:i,s:I}", "route", s->v[i].route,
                                                "method", s->v[i].method, "status",
                                                (int)s->v[i].status, "count",
                                                (json_int_t)s->v[i].count));
    char since[32];
    struct tm tm;
    gmtime_r(&s->since, &tm);
    strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *j = json_pack("{s:I,s:s,s:o}", "total", (json_int_t)s->total, "since", since,
                          "routes", routes ? routes : json_array());
    pthread_mutex_unlock(&s->mu);
    return j;
}
