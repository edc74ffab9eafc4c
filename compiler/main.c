/* main.c - the mapc command: dispatches to the subcommands of cli.h. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"check", mapc_cmd_check, "parse and type-check .map files against their schemas"},
    {"describe", mapc_cmd_describe, "list a schema's entity types and sets, or one type's properties"},
    {"gen", mapc_cmd_gen, "generate C decoders, mappers, validators and encoders"},
    {"preview", mapc_cmd_preview, "compile one map and run it on one JSON record from stdin"},
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: mapc COMMAND [OPTIONS] ARGS...\n"
            "\n"
            "mapc compiles mapping files (.map) between Dynamics 365 F&O ($metadata, CSDL XML)\n"
            "and Clarity eCommerce (OpenAPI JSON) into type-safe C.\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n"
            "'mapc COMMAND --help' describes one command.  Exit status: 0 ok, 1 errors in the\n"
            "input, 2 usage or I/O error.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("mapc %s\n", MAPC_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "mapc: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
