/* cmd_status.c - `sync status`: what the store says about each flow: queue depths by
 * state, dead letters, the poll checkpoint, whether the flow is paused (and why), and the
 * most recent dead letters' reasons.  Reads the store only; works while `sync run` runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "syncrt/isotime.h"
#include "sync.h"

static const char help[] =
    "usage: sync status [--config FILE] [--profile P]\n"
    "Prints, per flow: records pending (due or scheduled for a retry), leased (being worked),\n"
    "done, dead-lettered; the poll checkpoint; whether the flow is paused by an\n"
    "authentication failure; then the latest dead letters with their reasons.\n"
    "--check also verifies the store (SQLite integrity and the inbox invariants: every done\n"
    "record audited, every dead record with its dead letter, no leased record without owner).\n"
    "Exit 0, or 1 when a flow is paused or the dead-letter queue is not empty, 2 when the\n"
    "store cannot be read or --check finds a problem.\n";

int sync_cmd_status(int argc, char **argv)
{
    if (sync_wants_help(argc, argv)) {
        fputs(help, stdout);
        return 0;
    }
    syncrt_config *cfg = sync_config_from_args(&argc, argv);
    if (!cfg)
        return 2;
    int check = argc == 2 && !strcmp(argv[1], "--check");
    if (argc > 1 && !check) {
        fputs(help, stderr);
        syncrt_config_free(cfg);
        return 2;
    }
    syncrt_store *s = NULL;
    syncrt_error err;
    syncrt_error_clear(&err);
    int rc = 0;
    if (syncrt_store_open(&s, cfg->store, NULL, &err) != SYNCRT_OK) {
        fprintf(stderr, "sync status: %s\n", err.message);
        syncrt_config_free(cfg);
        return 2;
    }
    printf("store: %s\n", cfg->store);
    if (check) {
        if (syncrt_store_check(s, &err) != SYNCRT_OK) {
            printf("store check: FAILED: %s\n", err.message);
            syncrt_store_close(s);
            syncrt_config_free(cfg);
            return 2;
        }
        printf("store check: ok\n");
    }
    printf("profile: %s\n", cfg->profile ? cfg->profile : "(none)");
    for (size_t i = 0; i < mapc_nflows; i++) {
        const syncrt_flow_desc *f = mapc_flows[i];
        const syncrt_config_flow *cf = syncrt_config_flow_get(cfg, f->name);
        syncrt_store_counts c;
        char *ck = NULL, *pz = NULL, pk[160];
        if (syncrt_store_counts_get(s, &c, f->name, &err) != SYNCRT_OK) {
            fprintf(stderr, "sync status: %s\n", err.message);
            rc = 2;
            break;
        }
        if (!(cf && cf->enabled) && c.pending + c.leased + c.done + c.dead_letters == 0)
            continue;   /* built in, but neither enabled nor ever run in this store */
        syncrt_store_checkpoint_get(s, &ck, f->name, NULL);
        snprintf(pk, sizeof pk, "%s#paused", f->name);
        syncrt_store_checkpoint_get(s, &pz, pk, NULL);
        printf("flow %s: %s\n", f->name, cf && cf->enabled ? "enabled" : "disabled");
        printf("  pending: %lld\n  leased: %lld\n  done: %lld\n  dead: %lld\n",
               (long long)c.pending, (long long)c.leased, (long long)c.done,
               (long long)c.dead_letters);
        printf("  checkpoint: %s\n", ck ? ck : "(none)");
        if (pz && *pz) {
            printf("  paused: since %s\n", pz);
            rc = rc ? rc : 1;
        } else {
            printf("  paused: no\n");
        }
        if (c.dead_letters > 0)
            rc = rc ? rc : 1;
        free(ck);
        free(pz);
    }
    syncrt_dead_letter *dl = NULL;
    size_t n = 0;
    if (rc != 2 && syncrt_store_dlq_list(s, &dl, &n, NULL, 0, &err) == SYNCRT_OK) {
        size_t from = n > 5 ? n - 5 : 0;
        if (n)
            printf("latest dead letters (of %zu; sync dlq list shows all):\n", n);
        for (size_t i = from; i < n; i++) {
            char t[SYNCRT_ISO_LENGTH];
            syncrt_iso_format(t, dl[i].dead_at);
            printf("  %lld %s %s %s: %s\n", (long long)dl[i].id, t, dl[i].flow,
                   dl[i].source_key ? dl[i].source_key : dl[i].dedup_key, dl[i].reason);
        }
        syncrt_store_dead_letters_free(dl, n);
    }
    syncrt_store_close(s);
    syncrt_config_free(cfg);
    return rc;
}
