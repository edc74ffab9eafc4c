/* test_flowdesc.c - prints one flow descriptor of the committed generated/ registry
 * (generated/mapc_flows.h, compiled here with -Werror -pedantic) as key=value lines, for
 * tests/codegen/suite.sh to compare with the .map text:
 *
 *     test_flowdesc FLOW MAPFILE     exit 0 when the flow is in mapc_flows[], else 1
 *
 * "hash_ok=1" says the descriptor's map_hash is the FNV-1a 64 of MAPFILE's bytes; the map
 * list (mapc_maps[]) is checked to hold the flow's <Flow>_run under its name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapc_flows.h"

static const char *sys_name(syncrt_flow_system s)
{
    return s == SYNCRT_SYS_CLARITY ? "clarity" : s == SYNCRT_SYS_D365 ? "d365" : "none";
}

static void keys(const char *name, const char *const *k)
{
    printf("%s=", name);
    for (int i = 0; i < SYNCRT_FLOW_MAX_KEYS && k[i]; i++)
        printf("%s%s", i ? "," : "", k[i]);
    printf("\n");
}

static unsigned long long fnv_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned long long h = 0xcbf29ce484222325ULL;
    int c;
    if (!f)
        return 0;
    while ((c = fgetc(f)) != EOF) {
        h ^= (unsigned char)c;
        h *= 0x100000001b3ULL;
    }
    fclose(f);
    return h;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_flowdesc FLOW MAPFILE\n");
        return 2;
    }
    const syncrt_flow_desc *f = NULL;
    size_t n = 0;
    for (; mapc_flows[n]; n++)
        if (!strcmp(mapc_flows[n]->name, argv[1]))
            f = mapc_flows[n];
    if (n != mapc_nflows || !f) {
        fprintf(stderr, "no flow %s among %zu (mapc_nflows %zu)\n", argv[1], n, mapc_nflows);
        return 1;
    }
    int in_maps = 0;
    size_t m = 0;
    for (; mapc_maps[m].name; m++)
        if (!strcmp(mapc_maps[m].name, f->name) && mapc_maps[m].run == f->run &&
            !strcmp(mapc_maps[m].file, f->map_file))
            in_maps = 1;
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", fnv_file(argv[2]));
    printf("name=%s\nmap_file=%s\nhash_ok=%d\nin_maps=%d\nnmaps_ok=%d\n", f->name, f->map_file,
           !strcmp(hex, f->map_hash), in_maps, m == mapc_nmaps);
    printf("map_version=%s\nsource=%s\nwebhook_event=%s\npoll_route=%s\npoll_since=%s\n",
           f->map_version, sys_name(f->source), f->webhook_event ? f->webhook_event : "",
           f->poll_route ? f->poll_route : "", f->poll_since ? f->poll_since : "");
    printf("poll_every_ms=%lld\nschedule=%s\nschedule_every_ms=%lld\nsource_id_field=%s\n",
           (long long)f->poll_every_ms, f->schedule ? f->schedule : "",
           (long long)f->schedule_every_ms, f->source_id_field ? f->source_id_field : "");
    keys("source_key_fields", f->source_key_fields);
    printf("target=%s\nwrite=%s\ntarget_set=%s\ntarget_route=%s\nchild_set=%s\none_changeset=%d\n",
           sys_name(f->target),
           f->write == SYNCRT_WRITE_UPSERT ? "upsert" : f->write == SYNCRT_WRITE_UPDATE ? "update" : "create",
           f->target_set, f->target_route ? f->target_route : "", f->child_set ? f->child_set : "",
           f->one_changeset);
    keys("key_fields", f->key_fields);
    printf("idempotency_field=%s\nretry=%d %lld %lld\n", f->idempotency_field ? f->idempotency_field : "",
           f->retry.max_attempts, (long long)f->retry.base_ms, (long long)f->retry.cap_ms);
    keys("dedup_fields", f->dedup_fields);
    keys("group_by", f->group_by);
    /* update_fields: "-" when NULL (a create flow), else the list */
    printf("update_fields=");
    if (!f->update_fields)
        printf("-");
    for (int i = 0; f->update_fields && f->update_fields[i]; i++)
        printf("%s%s", i ? "," : "", f->update_fields[i]);
    printf("\n");
    /* a bulk write: the request body's list member and the method */
    printf("bulk_member=%s\nbulk_method=%s\n", f->bulk_member ? f->bulk_member : "",
           f->bulk_method ? f->bulk_method : "");
    return 0;
}
