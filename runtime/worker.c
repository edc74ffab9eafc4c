/* worker.c - settling claimed records (see syncrt/worker.h): the retry module decides, the
 * store applies, one transaction per record.  The engine's only way to change a record's
 * state after an attempt. */
#include "syncrt/worker.h"

#include <stdio.h>
#include <string.h>

syncrt_status syncrt_settle(syncrt_settled *out, const syncrt_settler *s,
                            const syncrt_inbox_record *rec, const syncrt_outcome *o, syncrt_error *err)
{
    syncrt_retry_class cls;
    syncrt_retry_decision d;
    syncrt_rng fallback;
    int64_t now;

    memset(out, 0, sizeof *out);
    out->action = SYNCRT_ACTION_PROBE;
    if (!s || !s->store || !s->worker || !rec || !o)
        return syncrt_error_set(err, SYNCRT_EINVAL, "settle: need a store, a worker, a record, an outcome");
    now = s->clock ? s->clock(s->clock_ctx) : syncrt_clock_real(NULL);
    cls = o->invalid ? SYNCRT_CLASS_VALIDATION : syncrt_retry_classify(&o->attempt);
    if (!s->rng)
        syncrt_rng_seed(&fallback, (uint64_t)now ^ (uint64_t)rec->id);
    syncrt_retry_decide(&d, &s->policy, s->rng ? s->rng : &fallback, cls, rec->attempts, o->retry_after_ms);
    if (cls == SYNCRT_CLASS_AUTH && o->retry_after_ms < 0 && s->pause_ms > 0)
        d.delay_ms = s->pause_ms;
    out->action = d.action;
    out->delay_ms = d.delay_ms;
    if (d.action == SYNCRT_ACTION_DEAD_LETTER && o->reason)
        snprintf(out->reason, sizeof out->reason, "%s", o->reason);
    else if (d.action == SYNCRT_ACTION_DEAD_LETTER && cls == SYNCRT_CLASS_TRANSIENT)
        snprintf(out->reason, sizeof out->reason, "%s (%s)", d.reason, syncrt_retry_class_name(cls));
    else
        snprintf(out->reason, sizeof out->reason, "%s", d.reason ? d.reason : "");
    if (o->attempt.transport != SYNCRT_OK)
        snprintf(out->text, sizeof out->text, "%s%s%s", syncrt_strerror(o->attempt.transport),
                 o->error_text ? ": " : "", o->error_text ? o->error_text : "");
    else if (o->invalid)
        snprintf(out->text, sizeof out->text, "%s", o->error_text ? o->error_text : "invalid record");
    else
        snprintf(out->text, sizeof out->text, "HTTP %ld%s%s", o->attempt.http_status,
                 o->error_text ? ": " : "", o->error_text ? o->error_text : "");
    switch (d.action) {
    case SYNCRT_ACTION_DONE:
        return syncrt_store_complete(s->store, rec->id, s->worker, &o->delivery, err);
    case SYNCRT_ACTION_RETRY:
        if (cls == SYNCRT_CLASS_TRANSIENT && o->retry_after_ms > 0)      /* throttled */
            return syncrt_store_release(s->store, rec->id, s->worker, now + d.delay_ms, err);
        out->attempt_burned = 1;
        return syncrt_store_fail(s->store, rec->id, s->worker, out->text, now + d.delay_ms, err);
    case SYNCRT_ACTION_DEAD_LETTER:
        return syncrt_store_dead_letter(s->store, rec->id, s->worker, out->reason, out->text, err);
    case SYNCRT_ACTION_PAUSE:
        return syncrt_store_release(s->store, rec->id, s->worker, now + d.delay_ms, err);
    case SYNCRT_ACTION_PROBE:
        return SYNCRT_OK;
    }
    return syncrt_error_set(err, SYNCRT_EINVAL, "settle: unknown action");
}

void syncrt_outcome_from_batch(syncrt_outcome *o, const syncrt_batch_result *r, char *buf, size_t size)
{
    syncrt_odata_error_info e;
    memset(o, 0, sizeof *o);
    o->retry_after_ms = -1;
    o->attempt.request_sent = 1;
    o->attempt.idempotent = 0;
    if (r->status == 0) {
        o->attempt.transport = SYNCRT_EHTTP;       /* no answer for this operation */
        o->error_text = "no answer for this operation in the $batch response";
        return;
    }
    o->attempt.transport = SYNCRT_OK;
    o->attempt.http_status = r->status;
    o->attempt.body = r->body;
    if (r->status >= 300 && buf && size) {
        if (syncrt_odata_error_parse(&e, r->body, r->body ? strlen(r->body) : 0) == SYNCRT_OK)
            snprintf(buf, size, "%s", syncrt_odata_error_text(&e));
        else
            snprintf(buf, size, "%.200s", r->body ? r->body : "");
        o->error_text = buf;
    }
}

void syncrt_outcome_probe(syncrt_outcome *o, int found, const char *target_key)
{
    memset(&o->attempt, 0, sizeof o->attempt);
    o->retry_after_ms = found ? -1 : 0;
    o->invalid = 0;
    o->attempt.transport = SYNCRT_OK;
    o->attempt.request_sent = 1;
    o->attempt.idempotent = 1;
    if (found) {
        o->attempt.http_status = 200;
        o->delivery.target_key = target_key;
        o->error_text = NULL;
    } else {
        o->attempt.http_status = 503;              /* "not there: send again", due now */
        o->error_text = "unknown outcome: the probe found nothing, resending";
    }
}
