/* cmd_run.c - `sync run`: every enabled flow at once.  The webhook receiver writes the inbox,
 * one poll thread runs each flow's ModifiedSince poll on its interval or cron schedule
 * (syncrt/scheduler.h), and workers.count
 * worker threads claim and deliver records.
 *
 * SIGTERM / SIGINT: stop intake first (the receiver stops answering, so an unanswered
 * webhook is redelivered by the sender), then the poller, then each worker settles the
 * records it holds (delivered, scheduled for retry, or released) and exits.  SIGHUP: the
 * same orderly stop, then a restart with the configuration read again (a file that does not
 * load is reported and the previous one is kept). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sync.h"
#include "syncrt/isotime.h"
#include "syncrt/metrics.h"
#include "syncrt/scheduler.h"

static const char help[] =
    "usage: sync run [--config FILE] [--profile P]\n"
    "Runs every flow the configuration enables: the webhook receiver (webhook.enabled), each\n"
    "flow's ModifiedSince poll every poll_every_s or, for a flow with a cron \"schedule\", one\n"
    "pass at each fire time (UTC), and workers.count workers delivering what is due.  Logs\n"
    "one key=value line per event on stderr.\n"
    "Metrics and status page (metrics.enabled, default on, at metrics.bind:metrics.port,\n"
    "default 127.0.0.1:9464): GET /metrics (Prometheus), /status (HTML), /status.json,\n"
    "/healthz (200 ok, 503 when the store is unreadable or a flow is paused).  The address\n"
    "is logged (event=metrics_listening); one that cannot be bound is logged as an error and\n"
    "the flows run without it.\n"
    "Signals: SIGTERM/SIGINT stop gracefully (intake first, then in-flight records are\n"
    "settled or released; exit 0); SIGHUP reloads the configuration.\n";

static volatile sig_atomic_t got_term, got_hup;
static volatile int gen_stop;
static int64_t process_started;

static void on_term(int sig)
{
    (void)sig;
    got_term = 1;
}

static void on_hup(int sig)
{
    (void)sig;
    got_hup = 1;
}

static void nap(int64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

typedef struct {
    syncrt_engine *e;
    char name[32];
    int ok;
} thread_arg;

static void *worker_main(void *p)
{
    thread_arg *a = p;
    syncrt_engine_worker *w = NULL;
    syncrt_error err;
    syncrt_error_clear(&err);
    if (syncrt_engine_worker_new(&w, a->e, a->name, &err) != SYNCRT_OK) {
        sync_logf(SYNCRT_LOG_ERROR, "worker_failed", "worker=%s error=\"%s\"", a->name, err.message);
        return NULL;
    }
    a->ok = 1;
    while (!gen_stop) {
        int busy = 0;
        int64_t wait = 200;
        for (size_t i = 0; i < syncrt_engine_flow_count(a->e) && !gen_stop; i++) {
            const syncrt_flow_desc *f = syncrt_engine_flow_at(a->e, i);
            size_t handled = 0;
            int64_t fw = 0;
            syncrt_error_clear(&err);
            syncrt_status st = syncrt_engine_step(w, f, &handled, &fw, &err);
            if (st == SYNCRT_OK)
                busy = 1;
            else if (st != SYNCRT_EEMPTY)
                sync_logf(SYNCRT_LOG_ERROR, "step_failed", "worker=%s flow=%s error=\"%s\"",
                          a->name, f->name, err.message);
        }
        if (!busy)
            nap(wait);
    }
    syncrt_engine_worker_free(w);
    return NULL;
}

/* The poll thread: a scheduler (syncrt/scheduler.h) with an interval entry per flow that
 * polls (first poll at once) and a cron entry per flow with a schedule (a flow whose .map has
 * both triggers gets both entries; a config "schedule" replaces the interval); at each fire the
 * flow's source is polled once into the inbox (the workers deliver what is due).  A cron fire
 * is one pass of the flow, as `sync once FLOW` would make. */
static void *poll_main(void *p)
{
    thread_arg *a = p;
    syncrt_engine_worker *w = NULL;
    syncrt_scheduler *sched = NULL;
    syncrt_error err;
    syncrt_error_clear(&err);
    if (syncrt_engine_worker_new(&w, a->e, a->name, &err) != SYNCRT_OK ||
        syncrt_scheduler_new(&sched, NULL, NULL, &err) != SYNCRT_OK) {
        sync_logf(SYNCRT_LOG_ERROR, "poller_failed", "error=\"%s\"", err.message);
        syncrt_engine_worker_free(w);
        return NULL;
    }
    size_t nf = syncrt_engine_flow_count(a->e);
    for (size_t i = 0; i < nf; i++) {
        const syncrt_flow_desc *f = syncrt_engine_flow_at(a->e, i);
        const char *cron = syncrt_engine_schedule(a->e, f);
        int64_t every = syncrt_engine_poll_every(a->e, f);
        syncrt_status st = SYNCRT_OK;
        if (cron)
            st = syncrt_scheduler_add_cron(sched, cron, i, &err);
        if (st == SYNCRT_OK && every > 0)   /* both when the .map has both triggers */
            st = syncrt_scheduler_add_interval(sched, every, 1, i, &err);
        if (st != SYNCRT_OK) {
            sync_logf(SYNCRT_LOG_ERROR, "poller_failed", "flow=%s error=\"%s\"", f->name, err.message);
            syncrt_scheduler_free(sched);
            syncrt_engine_worker_free(w);
            return NULL;
        }
        if (cron) {
            char at[40];
            syncrt_iso_format(at, syncrt_scheduler_next(sched, i));
            sync_logf(SYNCRT_LOG_INFO, "schedule_next", "flow=%s schedule=\"%s\" at=%s", f->name,
                      cron, syncrt_scheduler_next(sched, i) < 0 ? "never" : at);
        }
    }
    a->ok = 1;
    while (!gen_stop) {
        size_t i;
        syncrt_sched_kind kind;
        while (!gen_stop && syncrt_scheduler_take(sched, &i, &kind)) {
            const syncrt_flow_desc *f = syncrt_engine_flow_at(a->e, i);
            size_t n = 0;
            syncrt_error_clear(&err);
            syncrt_engine_poll(w, f, &n, &err);   /* logged by the engine */
            if (kind == SYNCRT_SCHED_CRON) {
                char at[40];
                int64_t next = syncrt_scheduler_next(sched, i);
                syncrt_iso_format(at, next);
                sync_logf(SYNCRT_LOG_INFO, "schedule_pass", "flow=%s enqueued=%zu next=%s", f->name, n,
                          next < 0 ? "never" : at);
            }
        }
        int64_t wait = syncrt_scheduler_wait_ms(sched);
        nap(wait < 0 || wait > 100 ? 100 : wait);  /* stay responsive to a stop */
    }
    syncrt_scheduler_free(sched);
    syncrt_engine_worker_free(w);
    return NULL;
}

/* One generation: runs until SIGTERM or SIGHUP.  Returns 0, or 2 when it could not start. */
static int generation(const syncrt_config *cfg)
{
    syncrt_engine_options eo = { 0 };
    eo.config = cfg;
    eo.flows = mapc_flows;
    eo.nflows = mapc_nflows;
    eo.log = sync_log;
    eo.stop = &gen_stop;
    syncrt_engine *e = NULL;
    syncrt_webhook *wh = NULL;
    syncrt_store *whstore = NULL;
    syncrt_metrics *mx = NULL;
    syncrt_error err;
    syncrt_error_clear(&err);
    gen_stop = 0;
    if (syncrt_engine_new(&e, &eo, &err) != SYNCRT_OK) {
        sync_logf(SYNCRT_LOG_ERROR, "start_failed", "error=\"%s\"", err.message);
        return 2;
    }
    int nw = cfg->workers;
    thread_arg *args = calloc((size_t)nw + 1, sizeof *args);
    pthread_t *th = calloc((size_t)nw + 1, sizeof *th);
    int started = 0, rc = 0;
    if (!args || !th) {
        rc = 2;
        goto out;
    }
    if (cfg->webhook_enabled) {
        if (syncrt_engine_webhook_start(e, &wh, &whstore, &err) != SYNCRT_OK) {
            sync_logf(SYNCRT_LOG_ERROR, "start_failed", "what=webhook error=\"%s\"", err.message);
            rc = 2;
            goto out;
        }
        sync_logf(SYNCRT_LOG_INFO, "webhook_listening", "bind=%s port=%u path=%s",
                  cfg->webhook_bind, syncrt_webhook_port(wh), cfg->webhook_path);
    }
    if (cfg->metrics_enabled) {
        /* a monitoring port that is taken must not stop the orders: logged, run on without */
        syncrt_metrics_options mo = { 0 };
        mo.port = cfg->metrics_port;
        mo.bind_address = cfg->metrics_bind;
        mo.store_path = cfg->store;
        mo.config = cfg;
        mo.flows = mapc_flows;
        mo.nflows = mapc_nflows;
        mo.engine = e;
        mo.started_at = process_started;
        if (syncrt_metrics_start(&mx, &mo, &err) != SYNCRT_OK)
            sync_logf(SYNCRT_LOG_ERROR, "metrics_failed", "bind=%s port=%u error=\"%s\" "
                      "note=\"running without /metrics and /status\"", cfg->metrics_bind,
                      cfg->metrics_port, err.message);
        else
            sync_logf(SYNCRT_LOG_INFO, "metrics_listening", "bind=%s port=%u url=http://%s:%u/status",
                      cfg->metrics_bind, syncrt_metrics_port(mx), cfg->metrics_bind,
                      syncrt_metrics_port(mx));
    }
    for (int i = 0; i <= nw; i++) {
        args[i].e = e;
        snprintf(args[i].name, sizeof args[i].name, i == 0 ? "poller" : "w%d", i);
        if (pthread_create(&th[i], NULL, i == 0 ? poll_main : worker_main, &args[i]) != 0)
            break;
        started++;
    }
    for (size_t i = 0; i < syncrt_engine_flow_count(e); i++) {
        const syncrt_flow_desc *f = syncrt_engine_flow_at(e, i);
        const char *cron = syncrt_engine_schedule(e, f);
        sync_logf(SYNCRT_LOG_INFO, "flow_started", "flow=%s poll_every_ms=%lld schedule=\"%s\" webhook=%s",
                  f->name, (long long)syncrt_engine_poll_every(e, f), cron ? cron : "off",
                  f->webhook_event && wh ? f->webhook_event : "off");
    }
    sync_logf(SYNCRT_LOG_INFO, "running", "workers=%d profile=%s store=%s", nw,
              cfg->profile ? cfg->profile : "(none)", cfg->store);
    int64_t last_progress = syncrt_clock_real(NULL);
    while (!got_term && !got_hup && started == nw + 1) {
        nap(100);
        if (syncrt_clock_real(NULL) - last_progress >= 10000) {
            syncrt_engine_counters n;
            syncrt_engine_counters_get(e, &n);
            sync_logf(SYNCRT_LOG_INFO, "progress", "enqueued=%llu delivered=%llu skipped=%llu "
                      "retried=%llu dead=%llu batches=%llu", (unsigned long long)n.enqueued,
                      (unsigned long long)n.delivered, (unsigned long long)n.skipped,
                      (unsigned long long)n.retried, (unsigned long long)n.dead,
                      (unsigned long long)n.batches);
            last_progress = syncrt_clock_real(NULL);
        }
    }
    sync_logf(SYNCRT_LOG_INFO, "stopping", "why=%s", got_term ? "signal" : got_hup ? "reload" : "start failed");
    if (wh) {
        syncrt_webhook_stop(wh);    /* intake first */
        wh = NULL;
    }
    gen_stop = 1;
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (started != nw + 1)
        rc = 2;
out:
    if (wh)
        syncrt_webhook_stop(wh);
    syncrt_store_close(whstore);
    syncrt_metrics_stop(mx);        /* it reads the engine: before the engine goes */
    syncrt_engine_counters n;
    syncrt_engine_counters_get(e, &n);
    sync_logf(SYNCRT_LOG_INFO, "stopped", "delivered=%llu dead=%llu",
              (unsigned long long)n.delivered, (unsigned long long)n.dead);
    syncrt_engine_free(e);
    free(args);
    free(th);
    return rc;
}

int sync_cmd_run(int argc, char **argv)
{
    if (sync_wants_help(argc, argv)) {
        fputs(help, stdout);
        return 0;
    }
    syncrt_config *cfg = sync_config_from_args(&argc, argv);
    if (!cfg)
        return 2;
    if (argc > 1 || sync_check_secrets(cfg) < 0) {
        if (argc > 1)
            fputs(help, stderr);
        syncrt_config_free(cfg);
        return 2;
    }
    process_started = syncrt_clock_real(NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc;
    for (;;) {
        rc = generation(cfg);
        if (rc != 0 || got_term)
            break;
        got_hup = 0;
        syncrt_config *n = sync_config_reload();
        if (n && sync_check_secrets(n) < 0) {
            sync_logf(SYNCRT_LOG_ERROR, "reload_refused", "file=%s note=\"keeping the running "
                      "configuration\"", sync_config_path);
            syncrt_config_free(n);
            n = NULL;
        }
        if (n) {
            syncrt_config_free(cfg);
            cfg = n;
            sync_logf(SYNCRT_LOG_INFO, "reloaded", "file=%s", sync_config_path);
        }
    }
    syncrt_config_free(cfg);
    return rc;
}
