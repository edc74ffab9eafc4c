/* main.c - the sync binary: subcommand dispatch, common options, configuration loading.
 * Exit codes: 0 success, 1 the command ran and found a problem (e.g. preview validation
 * errors), 2 usage, configuration or I/O errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync.h"

static const char usage[] =
    "usage: sync COMMAND [OPTIONS]\n"
    "Moves records between Clarity eCommerce and Dynamics 365 F&O with the maps built in,\n"
    "losing nothing that was acknowledged and delivering nothing twice (docs/operator.md).\n"
    "\n"
    "Commands:\n"
    "  run [--config FILE]      run every enabled flow: webhook receiver, polls, workers\n"
    "                           (SIGTERM/SIGINT: graceful stop; SIGHUP: reload the config)\n"
    "  once FLOW                one pass of one flow (poll, then work what is due), then exit\n"
    "  status                   queue depths, dead letters, checkpoints, last errors\n"
    "  dlq list|show ID|replay ID|all|drop ID\n"
    "                           the dead-letter queue\n"
    "  preview MAP < in.json    run one built-in map on one JSON record\n"
    "  reconcile [--from D] [--to D] [--format text|json]\n"
    "                           orders vs sales orders vs invoices vs payments per day\n"
    "                           and customer; exit 1 when something does not match\n"
    "\n"
    "Common options:\n"
    "  --config FILE            configuration (default $SYNC_CONFIG, else sync.json)\n"
    "  --profile NAME           profile of the file to apply (default $SYNC_PROFILE, else\n"
    "                           the file's \"profile\")\n"
    "  -h, --help               help (also after a command: sync once --help)\n";

int sync_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return 1;
    return 0;
}

char sync_config_path[1024];
char sync_config_profile[128];

syncrt_config *sync_config_reload(void)
{
    syncrt_config *c = NULL;
    syncrt_error err;
    syncrt_error_clear(&err);
    if (syncrt_config_load(&c, sync_config_path, sync_config_profile[0] ? sync_config_profile : NULL,
                           &err) != SYNCRT_OK) {
        sync_logf(SYNCRT_LOG_ERROR, "config_error", "file=%s error=\"%s\"", sync_config_path,
                  err.message);
        return NULL;
    }
    sync_log_set_level(getenv("SYNC_LOG_LEVEL") ? getenv("SYNC_LOG_LEVEL") : c->log_level);
    return c;
}

syncrt_config *sync_config_from_args(int *argc, char **argv)
{
    const char *path = getenv("SYNC_CONFIG"), *profile = getenv("SYNC_PROFILE");
    int j = 1;
    for (int i = 1; i < *argc; i++) {
        if ((!strcmp(argv[i], "--config") || !strcmp(argv[i], "--profile")) && i + 1 < *argc) {
            if (argv[i][2] == 'c')
                path = argv[i + 1];
            else
                profile = argv[i + 1];
            i++;
        } else if (!strncmp(argv[i], "--config=", 9)) {
            path = argv[i] + 9;
        } else if (!strncmp(argv[i], "--profile=", 10)) {
            profile = argv[i] + 10;
        } else {
            argv[j++] = argv[i];
        }
    }
    *argc = j;
    argv[j] = NULL;
    if (!path || !*path)
        path = "sync.json";
    snprintf(sync_config_path, sizeof sync_config_path, "%s", path);
    snprintf(sync_config_profile, sizeof sync_config_profile, "%s", profile ? profile : "");
    syncrt_config *c = NULL;
    syncrt_error err;
    syncrt_error_clear(&err);
    if (syncrt_config_load(&c, path, profile && *profile ? profile : NULL, &err) != SYNCRT_OK) {
        fprintf(stderr, "sync: %s\n", err.message);
        return NULL;
    }
    sync_log_set_level(getenv("SYNC_LOG_LEVEL") ? getenv("SYNC_LOG_LEVEL") : c->log_level);
    return c;
}

int sync_check_secrets(const syncrt_config *c)
{
    const char *refs[][2] = { { "d365.client_secret", c->d365_token_url ? c->d365_secret : NULL },
                              { "clarity.password", c->clarity_password },
                              { "clarity.api_key", c->clarity_api_key },
                              { "webhook.secret", c->webhook_enabled ? c->webhook_secret : NULL } };
    int bad = 0;
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        if (!refs[i][1])
            continue;
        char *v = NULL;
        syncrt_error err;
        syncrt_error_clear(&err);
        if (syncrt_config_secret(&v, refs[i][1], &err) != SYNCRT_OK) {
            sync_logf(SYNCRT_LOG_ERROR, "config_error", "setting=%s error=\"%s\"", refs[i][0],
                      err.message);
            bad = 1;
        }
        if (v) {
            memset(v, 0, strlen(v));
            free(v);
        }
    }
    return bad ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    argc--;
    argv++;
    if (!strcmp(cmd, "run"))
        return sync_cmd_run(argc, argv);
    if (!strcmp(cmd, "once"))
        return sync_cmd_once(argc, argv);
    if (!strcmp(cmd, "status"))
        return sync_cmd_status(argc, argv);
    if (!strcmp(cmd, "dlq"))
        return sync_cmd_dlq(argc, argv);
    if (!strcmp(cmd, "preview"))
        return sync_cmd_preview(argc, argv);
    if (!strcmp(cmd, "reconcile"))
        return sync_cmd_reconcile(argc, argv);
    fprintf(stderr, "sync: unknown command '%s'\n%s", cmd, usage);
    return 2;
}
