/* sync.h - shared pieces of the sync binary: the subcommands, the flows and maps built in,
 * stderr logging (one key=value line per event, decided here, not in the library), and
 * loading the configuration. */
#ifndef SYNC_SYNC_H
#define SYNC_SYNC_H

#include <stdio.h>

#include "syncrt/config.h"
#include "syncrt/engine.h"
#include "syncrt/flow.h"

/* Built-in flows and maps: the registry mapc gen writes from examples/ (mapc_flows[],
 * mapc_nflows, mapc_maps[], mapc_nmaps; docs/codegen.md). */
#include "mapc_flows.h"

/* Logging to stderr (log.c). */
void sync_log_set_level(const char *level);
void sync_log(void *ctx, syncrt_log_level level, const char *event, const char *fields);
void sync_logf(syncrt_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Common options: --config FILE (default $SYNC_CONFIG or sync.json), --profile P (default
 * $SYNC_PROFILE or the file's "profile").  Parses them out of argv (compacting it), loads the
 * configuration; on failure prints the reason and returns NULL. */
syncrt_config *sync_config_from_args(int *argc, char **argv);
/* Loads the same file and profile again (SIGHUP); logs and returns NULL on failure. */
syncrt_config *sync_config_reload(void);
extern char sync_config_path[1024];
extern char sync_config_profile[128];
/* Resolves every secret reference the configuration uses (files must be private); logs each
 * problem and returns -1 when there is one. */
int sync_check_secrets(const syncrt_config *c);
/* 1 when argv holds -h or --help. */
int sync_wants_help(int argc, char **argv);

int sync_cmd_run(int argc, char **argv);
int sync_cmd_once(int argc, char **argv);
int sync_cmd_status(int argc, char **argv);
int sync_cmd_dlq(int argc, char **argv);
int sync_cmd_preview(int argc, char **argv);
int sync_cmd_reconcile(int argc, char **argv);

#endif
