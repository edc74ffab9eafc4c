/* main.c - the sandbox binary: parses the command line, starts the D365 F&O emulator (d365.h)
 * and the Clarity eCommerce emulator (clarity.h) on 127.0.0.1, serves until SIGINT or SIGTERM,
 * then stops both cleanly (temporary data directories are removed). */
#include "clarity.h"
#include "d365.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sandbox [OPTIONS]\n"
            "Emulates Dynamics 365 Finance & Operations (OData) and Clarity eCommerce (CEF\n"
            "API-Admin) on 127.0.0.1 for demos, integration tests, chaos tests and benchmarks.\n"
            "Runs until SIGINT or SIGTERM.\n\n"
            "Shared options:\n"
            "  --seed S               both emulators start from the same catalog for seed S (1)\n"
            "  --data DIR             keep the data in DIR (DIR/d365.db, DIR/clarity.db; default:\n"
            "                         temporary directories removed on exit)\n"
            "  --only d365|clarity    start one emulator only\n"
            "  -h, --help             this text\n\n"
            "%s\n"
            "Clarity eCommerce emulator:\n%s\n"
            "Examples:\n"
            "  sandbox\n"
            "  curl -s -d grant_type=client_credentials -d client_id=sync-client \\\n"
            "       -d client_secret=sync-secret -d scope=http://127.0.0.1:7365/.default \\\n"
            "       http://127.0.0.1:7365/sandbox/oauth2/v2.0/token\n"
            "  curl -s -H \"Authorization: Bearer $TOKEN\" \\\n"
            "       'http://127.0.0.1:7365/data/CustomersV3?$top=2&$select=CustomerAccount'\n"
            "  curl -s -X PUT -d '{\"rate_limit\":5,\"latency_ms\":50}' "
            "http://127.0.0.1:7365/_sandbox/faults\n",
            d365_options_help(), clarity_options_help());
}

int main(int argc, char **argv)
{
    d365_options dopt;
    clarity_options copt;
    d365_options_init(&dopt);
    clarity_options_init(&copt);
    bool run_d365 = true, run_clarity = true;
    char err[512];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "sandbox: unexpected argument '%s' (see --help)\n", a);
            return 2;
        }
        char name[128];
        const char *value;
        const char *eq = strchr(a, '=');
        if (eq) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
            value = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
            if (i + 1 >= argc) {
                fprintf(stderr, "sandbox: option %s needs a value (see --help)\n", name);
                return 2;
            }
            value = argv[++i];
        }
        if (strcmp(name, "--only") == 0) {
            if (strcmp(value, "d365") == 0) {
                run_clarity = false;
            } else if (strcmp(value, "clarity") == 0) {
                run_d365 = false;
            } else {
                fprintf(stderr, "sandbox: --only takes d365 or clarity\n");
                return 2;
            }
            continue;
        }
        int rd = d365_options_set(&dopt, name, value, err, sizeof err);
        if (rd < 0) {
            fprintf(stderr, "sandbox: %s\n", err);
            return 2;
        }
        int rc = clarity_options_set(&copt, name, value, err, sizeof err);
        if (rc < 0) {
            fprintf(stderr, "sandbox: %s\n", err);
            return 2;
        }
        if (rd == 1 && rc == 1) {
            fprintf(stderr, "sandbox: unknown option %s (see --help)\n", name);
            return 2;
        }
    }

    /* Block the stop signals in every thread; the main thread waits for them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    d365_server *d = NULL;
    clarity_server *c = NULL;
    if (run_d365 && d365_server_start(&d, &dopt, err, sizeof err) != 0) {
        fprintf(stderr, "sandbox: D365 emulator: %s\n", err);
        return 1;
    }
    if (run_clarity && clarity_server_start(&c, &copt, err, sizeof err) != 0) {
        fprintf(stderr, "sandbox: Clarity emulator: %s\n", err);
        d365_server_stop(d);
        return 1;
    }
    if (d)
        printf("sandbox: D365 F&O on http://127.0.0.1:%u (tenant %s, client %s)\n",
               d365_server_port(d), dopt.tenant, dopt.client_id);
    if (c)
        printf("sandbox: Clarity eCommerce on http://127.0.0.1:%u%s\n", clarity_server_port(c),
               CLARITY_API_ROOT);
    fflush(stdout);

    int sig = 0;
    sigwait(&stop, &sig);
    printf("sandbox: %s received, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    fflush(stdout);
    clarity_server_stop(c);
    d365_server_stop(d);
    return 0;
}
