/* cmd_gen.c - `mapc gen -o DIR [-M DEPFILE] FILE.map...`: check the files as one program and
 * write the generated C (emit.h) into DIR: BASE.h/BASE.c per .map file, plus mapc_types.h/.c
 * when maps of several files share a type.  -M writes a make depfile naming every input (the
 * .map files, the schemas and the CSV tables they read).  Exit status: 0 written, 1 errors in
 * the input, 2 usage or I/O error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "diag.h"
#include "emit.h"
#include "frontend.h"

static void gen_usage(FILE *out)
{
    fprintf(out,
            "usage: mapc gen -o DIR [-M DEPFILE] [--max-errors N] FILE.map...\n"
            "\n"
            "Check the mapping files as one program and generate C for them into DIR:\n"
            "BASE.h and BASE.c for each BASE.map (structs with presence flags, descriptor\n"
            "tables, decoders, mappers, validators, encoders; see docs/codegen.md), plus\n"
            "mapc_types.h/.c for types that maps of several files share.  Compile the .c\n"
            "files with -Iruntime/include and link with libsyncrt.a.\n"
            "\n"
            "options:\n"
            "  -o DIR           output directory (created if missing)\n"
            "  -M DEPFILE       also write a make depfile: outputs depend on the .map files,\n"
            "                   the schemas and the CSV tables\n"
            "  --max-errors N   stop after N errors (default 20, 0 = no limit)\n"
            "  -h, --help       show this help\n"
            "\n"
            "The output is deterministic (no dates, no absolute paths): commit it and\n"
            "compare it in CI.  Exit status: 0 written, 1 errors in the input, 2 usage or\n"
            "I/O error.\n");
}


static void dep_word(FILE *o, const char *s)
{
    for (; *s; s++) {
        if (*s == ' ' || *s == '#' || *s == ':')
            fputc('\\', o);
        if (*s == '$')
            fputc('$', o);
        fputc(*s, o);
    }
}

static int write_depfile(const char *depfile, const char *dir, const emit_output *out,
                         const mapc_program *p)
{
    FILE *o = fopen(depfile, "w");
    if (!o)
        return -1;
    for (size_t i = 0; i < out->n; i++) {
        if (i)
            fputs(" ", o);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, out->files[i].name);
        dep_word(o, path);
    }
    fputs(":", o);
    for (size_t i = 0; i < p->files.n; i++) {
        const ast_file *f = p->files.items[i];
        const diag_source *src = diag_get_source(p->diag, f->file_id);
        if (!src)
            continue;
        fputs(" \\\n ", o);
        dep_word(o, src->path);
        const char *slash = strrchr(src->path, '/');
        int dl = slash ? (int)(slash - src->path) : 0;
        for (size_t d = 0; d < f->decls.n; d++) {
            const ast_decl *t = f->decls.items[d];
            if (t->kind != AD_TABLE || !t->csv || !t->path)
                continue;
            char path[4096];
            if (t->path[0] == '/' || !slash)
                snprintf(path, sizeof path, "%s", t->path);
            else
                snprintf(path, sizeof path, "%.*s/%s", dl, src->path, t->path);
            fputs(" \\\n ", o);
            dep_word(o, path);
        }
    }
    for (size_t i = 0; i < p->nslots; i++) {
        fputs(" \\\n ", o);
        dep_word(o, p->slots[i]->path);
    }
    fputs("\n", o);
    return fclose(o) == 0 ? 0 : -1;
}

int mapc_cmd_gen(int argc, char **argv)
{
    const char *dir = NULL, *depfile = NULL;
    int max_errors = 20;
    int first = 1;
    for (; first < argc; first++) {
        const char *a = argv[first];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            gen_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--")) {
            first++;
            break;
        }
        if (!strcmp(a, "-o") || !strcmp(a, "-M")) {
            if (first + 1 >= argc) {
                fprintf(stderr, "mapc gen: %s needs an argument\n", a);
                return 2;
            }
            if (a[1] == 'o')
                dir = argv[++first];
            else
                depfile = argv[++first];
            continue;
        }
        if (!strcmp(a, "--max-errors")) {
            char *end = NULL;
            long n = first + 1 < argc ? strtol(argv[++first], &end, 10) : -1;
            if (n < 0 || !end || *end) {
                fprintf(stderr, "mapc gen: --max-errors needs a number\n");
                return 2;
            }
            max_errors = (int)n;
            continue;
        }
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "mapc gen: unknown option '%s'\n\n", a);
            gen_usage(stderr);
            return 2;
        }
        break;
    }
    if (!dir) {
        fprintf(stderr, "mapc gen: -o DIR is required\n\n");
        gen_usage(stderr);
        return 2;
    }
    if (first >= argc) {
        fprintf(stderr, "mapc gen: no input files\n\n");
        gen_usage(stderr);
        return 2;
    }
    diag_ctx d;
    mapc_program *p;
    int status = mapc_cli_load(&p, &d, argv + first, argc - first, max_errors);
    if (status == 0) {
        emit_output out;
        char err[512];
        if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "mapc gen: cannot create %s: %s\n", dir, strerror(errno));
            status = 2;
        } else if (emit_program(p, &out, err, sizeof err) != 0) {
            fprintf(stderr, "mapc gen: %s\n", err);
            status = 2;
        } else {
            if (emit_write_dir(&out, dir, err, sizeof err) != 0) {
                fprintf(stderr, "mapc gen: %s\n", err);
                status = 2;
            } else if (depfile && write_depfile(depfile, dir, &out, p) != 0) {
                fprintf(stderr, "mapc gen: cannot write %s\n", depfile);
                status = 2;
            }
            emit_output_free(&out);
        }
    }
    mapc_cli_unload(p, &d);
    return status;
}
