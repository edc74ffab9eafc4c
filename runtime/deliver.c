/* deliver.c - one claim -> probe -> map -> $batch -> settle pass (see syncrt/deliver.h). */
#include "syncrt/deliver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY_SIZE 256

typedef struct {
    syncrt_inbox_record *rec;
    char key[KEY_SIZE];
    int state;                /* 0 to send, 1 settled */
    size_t first_op, nops;
} item;

static void nap(int64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void count(syncrt_deliver_stats *st, syncrt_retry_action a)
{
    switch (a) {
    case SYNCRT_ACTION_DONE: st->delivered++; break;
    case SYNCRT_ACTION_RETRY: st->retried++; break;
    case SYNCRT_ACTION_DEAD_LETTER: st->dead++; break;
    case SYNCRT_ACTION_PAUSE: st->paused++; break;
    case SYNCRT_ACTION_PROBE: st->probed++; break;
    }
}

/* Settles it with o; an unknown outcome is probed and settled again. */
static syncrt_status settle_item(syncrt_deliver_stats *st, const syncrt_deliverer *d, const syncrt_settler *s,
                                 item *it, syncrt_outcome *o, syncrt_error *err)
{
    syncrt_retry_action a;
    syncrt_status rc = syncrt_settle(&a, s, it->rec, o, err);
    if (rc == SYNCRT_OK && a == SYNCRT_ACTION_PROBE) {
        int found = d->probe(d->ctx, it->key);
        st->probed++;
        if (found < 0) {
            memset(o, 0, sizeof *o);                /* could not tell: try again later */
            o->attempt.transport = SYNCRT_ECONNECT;
            o->retry_after_ms = -1;
            o->error_text = "unknown outcome and the probe failed";
        } else {
            syncrt_outcome_probe(o, found, it->key);
            st->found_by_probe += found ? 1 : 0;
        }
        if (found > 0)
            o->delivery.mapping_version = d->mapping_version;
        rc = syncrt_settle(&a, s, it->rec, o, err);
    }
    if (rc == SYNCRT_OK)
        count(st, a);
    it->state = 1;
    return rc;
}

syncrt_status syncrt_deliver_pass(syncrt_deliver_stats *st, const syncrt_deliverer *d, syncrt_error *err)
{
    syncrt_inbox_record *recs = NULL;
    item *items = NULL;
    size_t n = 0, i, sendable = 0, nres = 0;
    syncrt_settler s;
    syncrt_batch *b = NULL;
    syncrt_batch_result *res = NULL;
    syncrt_http_response r;
    char *body = NULL, *ct = NULL, ctline[300], errbuf[600];
    size_t blen = 0;
    syncrt_status rc;
    syncrt_outcome o;

    memset(&r, 0, sizeof r);
    if (!d || !d->store || !d->worker || !d->flow || !d->http || !d->gate || !d->service_root || !d->map || !d->probe)
        return syncrt_error_set(err, SYNCRT_EINVAL, "deliver: incomplete deliverer");
    rc = syncrt_store_claim(d->store, &recs, &n, d->flow, d->worker, d->lease_ms > 0 ? d->lease_ms : 60000,
                            d->batch_records ? d->batch_records : 50, err);
    if (rc != SYNCRT_OK)
        return rc;
    st->claimed += n;
    memset(&s, 0, sizeof s);
    s.store = d->store;
    s.worker = d->worker;
    s.policy = d->policy;
    s.rng = d->rng;
    items = calloc(n, sizeof *items);
    if (!items) {
        rc = syncrt_error_set(err, SYNCRT_ENOMEM, "out of memory");
        goto out;
    }
    rc = syncrt_batch_new(&b, d->service_root, err);
    if (rc != SYNCRT_OK)
        goto out;
    for (i = 0; i < n && rc == SYNCRT_OK; i++) {
        item *it = &items[i];
        syncrt_status m;
        it->rec = &recs[i];
        it->first_op = syncrt_batch_count(b);
        syncrt_batch_changeset_begin(b, err);
        errbuf[0] = '\0';
        m = d->map(d->ctx, b, it->rec, it->key, sizeof it->key, errbuf, sizeof errbuf);
        syncrt_batch_changeset_end(b, err);
        it->nops = syncrt_batch_count(b) - it->first_op;
        if (m != SYNCRT_OK || it->nops == 0) {
            /* refused by the mapper: dead letter unsent.  Its operations, if it added any,
             * cannot be taken back out of the batch, so refuse that too. */
            if (it->nops) {
                rc = syncrt_error_set(err, SYNCRT_EINVAL, "deliver: the mapper added operations and failed");
                break;
            }
            memset(&o, 0, sizeof o);
            o.invalid = 1;
            o.error_text = errbuf[0] ? errbuf : "the mapper produced nothing";
            rc = settle_item(st, d, &s, it, &o, err);
            continue;
        }
        if (it->rec->attempts > 1) {
            /* claimed before: the earlier attempt may have landed */
            int found = d->probe(d->ctx, it->key);
            st->probed++;
            if (found > 0) {
                st->found_by_probe++;
                memset(&o, 0, sizeof o);
                syncrt_outcome_probe(&o, 1, it->key);
                o.delivery.mapping_version = d->mapping_version;
                rc = settle_item(st, d, &s, it, &o, err);
                continue;
            }
            if (found < 0) {
                memset(&o, 0, sizeof o);
                o.attempt.transport = SYNCRT_ECONNECT;
                o.retry_after_ms = -1;
                o.error_text = "probe before resending failed";
                rc = settle_item(st, d, &s, it, &o, err);
                continue;
            }
        }
        sendable++;
    }
    if (rc != SYNCRT_OK)
        goto out;
    if (sendable == 0)
        goto out;
    /* The batch may hold operations of records settled above (probed and found): they were
     * added before the probe.  Rebuild it with the sendable records only. */
    syncrt_batch_free(b);
    b = NULL;
    rc = syncrt_batch_new(&b, d->service_root, err);
    if (rc != SYNCRT_OK)
        goto out;
    for (i = 0; i < n; i++) {
        char key[KEY_SIZE];
        if (items[i].state)
            continue;
        items[i].first_op = syncrt_batch_count(b);
        syncrt_batch_changeset_begin(b, err);
        d->map(d->ctx, b, items[i].rec, key, sizeof key, errbuf, sizeof errbuf);
        syncrt_batch_changeset_end(b, err);
        items[i].nops = syncrt_batch_count(b) - items[i].first_op;
    }
    rc = syncrt_batch_body(&body, &blen, &ct, b, err);
    if (rc != SYNCRT_OK)
        goto out;
    {
        const char *line = NULL, *hdrs[4];
        syncrt_http_request req;
        char url[1024];
        int64_t wait = 0;
        syncrt_attempt at;
        const char *ra_header;
        int64_t ra = -1;

        while (syncrt_endpoint_acquire(d->gate, &wait, syncrt_clock_real(NULL)) != SYNCRT_OK)
            nap(wait > 0 ? (wait < 1000 ? wait : 1000) : 10);
        if (d->auth && (rc = syncrt_auth_header(d->auth, &line, err)) != SYNCRT_OK) {
            memset(&at, 0, sizeof at);
            at.transport = rc == SYNCRT_EAUTH ? SYNCRT_OK : rc;
            at.http_status = rc == SYNCRT_EAUTH ? 401 : 0;
            syncrt_endpoint_release(d->gate, NULL, &at, NULL, syncrt_clock_real(NULL));
            memset(&o, 0, sizeof o);
            o.attempt = at;
            o.retry_after_ms = -1;
            o.error_text = err ? err->message : "no credential";
            for (i = 0; i < n; i++)
                if (!items[i].state)
                    settle_item(st, d, &s, &items[i], &o, NULL);
            goto out;
        }
        snprintf(ctline, sizeof ctline, "Content-Type: %s", ct);
        snprintf(url, sizeof url, "%s/$batch", d->service_root);
        hdrs[0] = ctline;
        hdrs[1] = "Accept: multipart/mixed";
        hdrs[2] = line;
        hdrs[3] = NULL;
        memset(&req, 0, sizeof req);
        req.method = "POST";
        req.url = url;
        req.headers = hdrs;
        req.body = body;
        req.body_len = blen;
        syncrt_http_do(d->http, &r, &req, NULL);
        at.transport = r.transport;
        at.request_sent = r.request_sent;
        at.idempotent = 0;
        at.http_status = r.status;
        at.body = r.body;
        ra_header = syncrt_http_response_header(&r, "Retry-After");
        syncrt_endpoint_release(d->gate, &ra, &at, ra_header, syncrt_clock_real(NULL));
        if (r.transport == SYNCRT_OK && r.status == 401 && d->auth)
            syncrt_auth_unauthorized(d->auth, line, NULL);     /* fresh token next pass */
        if (r.transport == SYNCRT_OK && r.status == 200 &&
            syncrt_batch_parse(&res, &nres, b, syncrt_http_response_header(&r, "Content-Type"), r.body,
                               r.body_len, NULL) == SYNCRT_OK) {
            for (i = 0; i < n; i++) {
                size_t k, worst = (size_t)-1;
                if (items[i].state)
                    continue;
                for (k = items[i].first_op; k < items[i].first_op + items[i].nops && k < nres; k++) {
                    if (res[k].status == 0 || res[k].status >= 300) {
                        worst = k;
                        break;
                    }
                }
                if (worst == (size_t)-1) {
                    memset(&o, 0, sizeof o);
                    o.attempt.transport = SYNCRT_OK;
                    o.attempt.request_sent = 1;
                    o.attempt.http_status = res[items[i].first_op].status;
                    o.retry_after_ms = -1;
                    o.delivery.target_key = items[i].key;
                    o.delivery.mapping_version = d->mapping_version;
                } else {
                    syncrt_outcome_from_batch(&o, &res[worst], errbuf, sizeof errbuf);
                }
                rc = settle_item(st, d, &s, &items[i], &o, err);
            }
        } else {
            /* the batch as a whole: throttled, refused, lost, or an answer we cannot read */
            memset(&o, 0, sizeof o);
            o.attempt = at;
            o.retry_after_ms = ra;
            if (r.transport == SYNCRT_OK && r.status == 200) {
                o.attempt.transport = SYNCRT_EHTTP;      /* unreadable answer: unknown outcome */
                o.error_text = "unreadable $batch answer";
            } else if (r.transport != SYNCRT_OK) {
                o.error_text = r.error;
            } else {
                syncrt_odata_error_info e;
                if (syncrt_odata_error_parse(&e, r.body, r.body_len) == SYNCRT_OK)
                    snprintf(errbuf, sizeof errbuf, "%s", syncrt_odata_error_text(&e));
                else
                    snprintf(errbuf, sizeof errbuf, "%.200s", r.body ? r.body : "");
                o.error_text = errbuf;
            }
            for (i = 0; i < n; i++)
                if (!items[i].state)
                    rc = settle_item(st, d, &s, &items[i], &o, err);
        }
    }
out:
    syncrt_batch_results_free(res, nres);
    syncrt_http_response_clear(&r);
    free(body);
    free(ct);
    syncrt_batch_free(b);
    free(items);
    syncrt_store_records_free(recs, n);
    return rc;
}
