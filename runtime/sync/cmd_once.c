/* cmd_once.c - `sync once FLOW`: one pass of one flow, then exit (for cron and tests):
 * poll its source once (when it polls), then work every record that is due.  --drain keeps
 * working until no record of the flow is pending or leased (retries waited for), up to
 * --timeout seconds. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sync.h"

static const char help[] =
    "usage: sync once FLOW [--drain] [--timeout S] [--no-poll] [--config FILE] [--profile P]\n"
    "One pass of FLOW: poll its source once (unless --no-poll), then work every record that\n"
    "is due, then exit.  Records whose retry is scheduled later stay in the inbox for the\n"
    "next pass, unless --drain: then it keeps working until none of the flow's records is\n"
    "pending (delivered or dead-lettered), for at most --timeout seconds (default 600).\n"
    "Exit 0 when the pass completed (and, with --drain, the inbox is drained), 1 when a poll\n"
    "failed, the flow is paused or records remain after the timeout, 2 on usage or\n"
    "configuration errors.  SIGTERM or SIGINT stops after the records in hand are settled.\n";

static volatile int stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

int sync_cmd_once(int argc, char **argv)
{
    if (sync_wants_help(argc, argv)) {
        fputs(help, stdout);
        return 0;
    }
    int drain = 0, no_poll = 0;
    long timeout_s = 600;
    const char *flow = NULL;
    syncrt_config *cfg = sync_config_from_args(&argc, argv);
    if (!cfg)
        return 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--drain"))
            drain = 1;
        else if (!strcmp(argv[i], "--no-poll"))
            no_poll = 1;
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
            timeout_s = atol(argv[++i]);
        else if (argv[i][0] != '-' && !flow)
            flow = argv[i];
        else {
            fputs(help, stderr);
            syncrt_config_free(cfg);
            return 2;
        }
    }
    if (!flow || sync_check_secrets(cfg) < 0) {
        if (!flow)
            fputs(help, stderr);
        syncrt_config_free(cfg);
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    syncrt_engine_options eo = { 0 };
    eo.config = cfg;
    eo.flows = mapc_flows;
    eo.nflows = mapc_nflows;
    eo.log = sync_log;
    eo.stop = &stop_flag;
    syncrt_engine *e = NULL;
    syncrt_engine_worker *w = NULL;
    syncrt_error err;
    syncrt_error_clear(&err);
    int rc = 0;
    if (syncrt_engine_new(&e, &eo, &err) != SYNCRT_OK ||
        syncrt_engine_worker_new(&w, e, "once", &err) != SYNCRT_OK) {
        fprintf(stderr, "sync once: %s\n", err.message);
        rc = 2;
        goto out;
    }
    const syncrt_flow_desc *f = syncrt_engine_flow(e, flow);
    if (!f) {
        fprintf(stderr, "sync once: no enabled flow called '%s' (built in: ", flow);
        for (size_t i = 0; i < mapc_nflows; i++)
            fprintf(stderr, "%s%s", i ? ", " : "", mapc_flows[i]->name);
        fprintf(stderr, "; a flow runs when the configuration's \"flows\" enables it)\n");
        rc = 2;
        goto out;
    }
    if (!no_poll) {
        size_t n = 0;
        if (syncrt_engine_poll(w, f, &n, &err) != SYNCRT_OK)
            rc = 1;
    }
    int64_t deadline = syncrt_clock_real(NULL) + (int64_t)timeout_s * 1000;
    for (;;) {
        size_t handled = 0;
        int64_t wait = 0;
        syncrt_error_clear(&err);
        syncrt_status st = syncrt_engine_step(w, f, &handled, &wait, &err);
        if (st != SYNCRT_OK && st != SYNCRT_EEMPTY) {
            sync_logf(SYNCRT_LOG_ERROR, "step_failed", "flow=%s error=\"%s\"", f->name, err.message);
            rc = 1;
            break;
        }
        if (stop_flag)
            break;
        if (st == SYNCRT_OK)
            continue;
        syncrt_store_counts c;
        if (syncrt_store_counts_get(syncrt_engine_worker_store(w), &c, f->name, &err) != SYNCRT_OK) {
            rc = 1;
            break;
        }
        if (!drain || c.pending + c.leased == 0) {
            if (c.pending + c.leased > 0)
                sync_logf(SYNCRT_LOG_INFO, "once_left", "flow=%s pending=%lld leased=%lld "
                          "note=\"scheduled for later passes\"", f->name, (long long)c.pending,
                          (long long)c.leased);
            if (wait > 0)
                rc = 1;
            break;
        }
        if (syncrt_clock_real(NULL) >= deadline) {
            sync_logf(SYNCRT_LOG_ERROR, "drain_timeout", "flow=%s pending=%lld leased=%lld",
                      f->name, (long long)c.pending, (long long)c.leased);
            rc = 1;
            break;
        }
        struct timespec ts = { 0, 50 * 1000000L };
        nanosleep(&ts, NULL);
    }
    syncrt_engine_counters n;
    syncrt_engine_counters_get(e, &n);
    sync_logf(SYNCRT_LOG_INFO, "once_done",
              "flow=%s enqueued=%llu delivered=%llu skipped=%llu retried=%llu dead=%llu "
              "probes=%llu batches=%llu", f->name, (unsigned long long)n.enqueued,
              (unsigned long long)n.delivered, (unsigned long long)n.skipped,
              (unsigned long long)n.retried, (unsigned long long)n.dead,
              (unsigned long long)n.probes, (unsigned long long)n.batches);
out:
    syncrt_engine_worker_free(w);
    syncrt_engine_free(e);
    syncrt_config_free(cfg);
    return rc;
}
