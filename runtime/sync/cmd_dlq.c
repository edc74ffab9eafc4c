/* cmd_dlq.c - `sync dlq list|show ID|replay ID|all|drop ID`: the dead-letter queue.
 * Replay makes a record pending again with zero attempts (the next `sync run` or `sync
 * once` delivers it); drop deletes the dead letter and keeps the inbox row as a tombstone
 * so a redelivery of the same event stays a duplicate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "syncrt/isotime.h"
#include "sync.h"

static const char help[] =
    "usage: sync dlq list [FLOW]        one line per dead letter: id, time, flow, source,\n"
    "                                   attempts, reason\n"
    "       sync dlq show ID            everything about one: reason, first and last error,\n"
    "                                   attempts, times, the record as received\n"
    "       sync dlq replay ID|all      make it (them) pending again, attempts reset\n"
    "       sync dlq drop ID            forget it (the dedup key is kept)\n"
    "Options: --config FILE, --profile P.  Exit 0, 1 when ID does not exist, 2 on errors.\n";

static void iso(char *buf, int64_t ms)
{
    if (ms > 0)
        syncrt_iso_format(buf, ms);
    else
        snprintf(buf, SYNCRT_ISO_LENGTH, "-");
}

static int parse_id(const char *s, int64_t *id)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v <= 0)
        return -1;
    *id = v;
    return 0;
}

int sync_cmd_dlq(int argc, char **argv)
{
    if (sync_wants_help(argc, argv)) {
        fputs(help, stdout);
        return 0;
    }
    syncrt_config *cfg = sync_config_from_args(&argc, argv);
    if (!cfg)
        return 2;
    const char *sub = argc > 1 ? argv[1] : NULL;
    if (!sub || (strcmp(sub, "list") && argc != 3) || (!strcmp(sub, "list") && argc > 3)) {
        fputs(help, stderr);
        syncrt_config_free(cfg);
        return 2;
    }
    syncrt_store *s = NULL;
    syncrt_error err;
    syncrt_error_clear(&err);
    int rc = 0;
    if (syncrt_store_open(&s, cfg->store, NULL, &err) != SYNCRT_OK) {
        fprintf(stderr, "sync dlq: %s\n", err.message);
        syncrt_config_free(cfg);
        return 2;
    }
    int64_t id = 0;
    if (!strcmp(sub, "list")) {
        syncrt_dead_letter *dl = NULL;
        size_t n = 0;
        if (syncrt_store_dlq_list(s, &dl, &n, argc == 3 ? argv[2] : NULL, 0, &err) != SYNCRT_OK) {
            fprintf(stderr, "sync dlq: %s\n", err.message);
            rc = 2;
        } else {
            for (size_t i = 0; i < n; i++) {
                char t[SYNCRT_ISO_LENGTH];
                iso(t, dl[i].dead_at);
                printf("%lld\t%s\t%s\t%s\t%d\t%s\n", (long long)dl[i].id, t, dl[i].flow,
                       dl[i].source_key ? dl[i].source_key : dl[i].dedup_key, dl[i].attempts,
                       dl[i].reason);
            }
            syncrt_store_dead_letters_free(dl, n);
        }
    } else if (!strcmp(sub, "show")) {
        syncrt_dead_letter *d = NULL;
        if (parse_id(argv[2], &id) < 0) {
            fprintf(stderr, "sync dlq show: '%s' is not an id\n", argv[2]);
            rc = 2;
        } else if (syncrt_store_dlq_show(s, &d, id, &err) != SYNCRT_OK) {
            fprintf(stderr, "sync dlq show: %s\n", err.message);
            rc = 1;
        } else {
            char a[SYNCRT_ISO_LENGTH], b[SYNCRT_ISO_LENGTH], c[SYNCRT_ISO_LENGTH];
            iso(a, d->received_at);
            iso(b, d->first_failed_at);
            iso(c, d->dead_at);
            printf("id: %lld\nflow: %s\nsource: %s\ndedup key: %s\nreason: %s\n"
                   "attempts: %d\nfirst error: %s\nlast error: %s\nreceived: %s\n"
                   "first failed: %s\ndead since: %s\nrecord:\n%.*s\n",
                   (long long)d->id, d->flow, d->source_key ? d->source_key : "-", d->dedup_key,
                   d->reason, d->attempts, d->first_error ? d->first_error : "-",
                   d->last_error ? d->last_error : "-", a, b, c, (int)d->payload_len,
                   (const char *)d->payload);
            syncrt_store_dead_letters_free(d, 1);
        }
    } else if (!strcmp(sub, "replay") && !strcmp(argv[2], "all")) {
        syncrt_dead_letter *dl = NULL;
        size_t n = 0;
        if (syncrt_store_dlq_list(s, &dl, &n, NULL, 0, &err) != SYNCRT_OK) {
            fprintf(stderr, "sync dlq: %s\n", err.message);
            rc = 2;
        } else {
            size_t ok = 0;
            for (size_t i = 0; i < n; i++)
                ok += syncrt_store_dlq_replay(s, dl[i].id, NULL) == SYNCRT_OK;
            printf("replayed %zu of %zu\n", ok, n);
            rc = ok == n ? 0 : 2;
            syncrt_store_dead_letters_free(dl, n);
        }
    } else if (!strcmp(sub, "replay") || !strcmp(sub, "drop")) {
        if (parse_id(argv[2], &id) < 0) {
            fprintf(stderr, "sync dlq %s: '%s' is not an id\n", sub, argv[2]);
            rc = 2;
        } else {
            syncrt_status st = sub[0] == 'r' ? syncrt_store_dlq_replay(s, id, &err)
                                             : syncrt_store_dlq_drop(s, id, &err);
            if (st != SYNCRT_OK) {
                fprintf(stderr, "sync dlq %s: %s\n", sub, err.message);
                rc = st == SYNCRT_ENOTFOUND ? 1 : 2;
            } else {
                printf("%s %lld\n", sub[0] == 'r' ? "replayed" : "dropped", (long long)id);
            }
        }
    } else {
        fputs(help, stderr);
        rc = 2;
    }
    syncrt_store_close(s);
    syncrt_config_free(cfg);
    return rc;
}
