/* cmd_preview.c - `mapc preview FILE.map NAME < in.json`: the playground of the language.
 * Check FILE.map, generate its C (emit.h), compile it with a small driver against libsyncrt
 * (cached by a hash of everything that goes into the binary), and run map or flow NAME on the
 * one JSON record read from stdin: the mapped JSON on stdout (exit 0), or every decoding,
 * mapping and validation problem on stderr, one per line (exit 1); what a `where` left out on
 * stderr too, and a record left out as a whole exits 3 with nothing on stdout.
 *
 * Where the runtime is: recorded at build time (MAPC_RUNTIME_INCLUDE, MAPC_RUNTIME_LIB and
 * the sanitizer flags MAPC_RUNTIME_CFLAGS the library was built with, see compiler/build.mk),
 * overridable by the environment variables of the same names; MAPC_CC names the compiler
 * (default cc).  The cache is $XDG_CACHE_HOME/mapc or ~/.cache/mapc unless --cache DIR.
 * MAPC_PREVIEW_WRAPPER (e.g. "valgrind -q") is put in front of the compiled program. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "diag.h"
#include "emit.h"
#include "frontend.h"

#ifndef MAPC_RUNTIME_INCLUDE
#define MAPC_RUNTIME_INCLUDE "runtime/include"
#endif
#ifndef MAPC_RUNTIME_LIB
#define MAPC_RUNTIME_LIB "build/libsyncrt.a"
#endif
#ifndef MAPC_RUNTIME_CFLAGS
#define MAPC_RUNTIME_CFLAGS ""
#endif

static void preview_usage(FILE *out)
{
    fprintf(out,
            "usage: mapc preview [--cache DIR] [--now DATETIME] FILE.map NAME < record.json\n"
            "\n"
            "Generate C for FILE.map, compile it with libsyncrt (cached by content hash) and\n"
            "run map or flow NAME on the JSON record read from stdin.  The mapped JSON goes\n"
            "to stdout (a flow prints {\"Set\":{...},\"ChildSet\":[...]}); decoding, mapping\n"
            "and validation errors go to stderr, one per line, with exit status 1.  What a\n"
            "map's where leaves out is said on stderr (\"SET[i]: MAP: filtered: COND\" for a\n"
            "child element); a record left out as a whole prints nothing on stdout, exit 3.\n"
            "\n"
            "options:\n"
            "  --cache DIR      compiled previews (default $XDG_CACHE_HOME/mapc or ~/.cache/mapc)\n"
            "  --now DATETIME   the value of now() (ISO-8601), for repeatable output\n"
            "  -h, --help       show this help\n"
            "\n"
            "environment: MAPC_RUNTIME_INCLUDE, MAPC_RUNTIME_LIB, MAPC_RUNTIME_CFLAGS (where\n"
            "libsyncrt is and how it was built; defaults recorded when mapc was built),\n"
            "MAPC_CC (compiler, default cc), MAPC_PREVIEW_WRAPPER (a command put in front of\n"
            "the compiled program, e.g. valgrind).\n"
            "Exit status: 0 mapped, 1 errors in the input or the record, 2 usage, I/O or\n"
            "compiler failure, 3 the record is filtered out by a where.\n");
}


static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

/* FNV-1a, 64 bits, over several pieces. */
static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    /* separator so ("ab","c") != ("a","bc") */
    h ^= 0xff;
    h *= 1099511628211ull;
    return h;
}

static int mkdirs(const char *path)
{
    char buf[4400];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

static int run_wait(char **argv)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* the compiler's messages go to stderr; keep stdin (the record) for the program */
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        execvp(argv[0], argv);
        fprintf(stderr, "mapc preview: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Split a flags string on blanks into argv (appending at *n). */
static void split_into(char *s, char **argv, int *n, int max)
{
    for (char *tok = strtok(s, " \t"); tok && *n < max; tok = strtok(NULL, " \t"))
        argv[(*n)++] = tok;
}

static char *driver_text(const char *base, const char *name)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&buf, &len);
    if (!o)
        return NULL;
    fprintf(o,
            "/* preview driver generated by mapc preview: run %s on the record on stdin */\n"
            "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n\n"
            "#include \"%s.h\"\n\n"
            "int main(void)\n{\n"
            "    size_t cap = 65536, len = 0, got;\n"
            "    char *in = malloc(cap);\n"
            "    if (!in)\n        return 2;\n"
            "    while ((got = fread(in + len, 1, cap - len, stdin)) > 0) {\n"
            "        len += got;\n"
            "        if (len == cap) {\n"
            "            char *n = realloc(in, cap * 2);\n"
            "            if (!n) {\n                free(in);\n                return 2;\n            }\n"
            "            in = n;\n            cap *= 2;\n        }\n    }\n"
            "    syncrt_mctx ctx;\n    syncrt_mctx_init(&ctx);\n"
            "    const char *now = getenv(\"MAPC_NOW\");\n"
            "    if (now && *now) {\n"
            "        syncrt_datetime t;\n        syncrt_date d;\n        bool donly;\n"
            "        if (syncrt_parse_iso(now, strlen(now), &t, &d, &donly))\n"
            "            ctx.now_ms = t;\n    }\n"
            "    syncrt_mbuf out;\n    syncrt_mbuf_init(&out);\n"
            "    syncrt_status st = %s_run(&ctx, in, len, &out);\n"
            "    int rc = 0;\n"
            "    /* what a where left out: the record (exit 3) or child elements */\n"
            "    if (st == SYNCRT_OK || st == SYNCRT_EFILTERED)\n"
            "        for (size_t i = 0; i < syncrt_mctx_note_count(&ctx); i++)\n"
            "            fprintf(stderr, \"%%s\\n\", syncrt_mctx_note_text(&ctx, i));\n"
            "    if (st == SYNCRT_OK) {\n"
            "        fwrite(out.p, 1, out.n, stdout);\n        fputc('\\n', stdout);\n"
            "    } else if (st == SYNCRT_EFILTERED) {\n"
            "        rc = 3;\n"
            "    } else {\n"
            "        size_t n = syncrt_mctx_error_count(&ctx);\n"
            "        for (size_t i = 0; i < n; i++)\n"
            "            fprintf(stderr, \"%%s\\n\", syncrt_mctx_error_text(&ctx, i));\n"
            "        if (ctx.dropped)\n"
            "            fprintf(stderr, \"... and %%zu more\\n\", ctx.dropped);\n"
            "        if (n == 0)\n"
            "            fprintf(stderr, \"%%s\\n\", syncrt_strerror(st));\n"
            "        rc = 1;\n    }\n"
            "    syncrt_mbuf_free(&out);\n    syncrt_mctx_free(&ctx);\n    free(in);\n"
            "    return rc;\n}\n",
            name, base, name);
    fclose(o);
    return buf;
}

int mapc_cmd_preview(int argc, char **argv)
{
    const char *cache = NULL, *name = NULL;
    char *file = NULL;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            preview_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--cache") || !strcmp(a, "--now")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "mapc preview: %s needs an argument\n", a);
                return 2;
            }
            if (a[2] == 'c')
                cache = argv[++i];
            else
                setenv("MAPC_NOW", argv[++i], 1);
            continue;
        }
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "mapc preview: unknown option '%s'\n\n", a);
            preview_usage(stderr);
            return 2;
        }
        if (!file)
            file = argv[i];
        else if (!name)
            name = a;
        else {
            fprintf(stderr, "mapc preview: too many arguments\n\n");
            preview_usage(stderr);
            return 2;
        }
    }
    if (!file || !name) {
        fprintf(stderr, "mapc preview: need FILE.map and a map or flow name\n\n");
        preview_usage(stderr);
        return 2;
    }

    diag_ctx d;
    mapc_program *p;
    int status = mapc_cli_load(&p, &d, &file, 1, 20);
    if (!p) {
        diag_cleanup(&d);
        return 2;
    }
    const ast_decl *m = status ? NULL : mapc_program_find_map(p, name);
    const ast_decl *fl = status || m ? NULL : mapc_program_find_flow(p, name);
    if (!status && !m && !fl) {
        fprintf(stderr, "mapc preview: %s has no map or flow named '%s'\n", file, name);
        status = 2;
    }
    emit_output out = {NULL, 0};
    char err[512];
    if (!status && emit_program(p, &out, err, sizeof err) != 0) {
        fprintf(stderr, "mapc preview: %s\n", err);
        status = 2;
    }
    char base[160];
    emit_base_name(file, base, sizeof base);
    char *driver = status ? NULL : driver_text(base, name);
    if (!status && !driver)
        status = 2;

    const char *inc = env_or("MAPC_RUNTIME_INCLUDE", MAPC_RUNTIME_INCLUDE);
    const char *lib = env_or("MAPC_RUNTIME_LIB", MAPC_RUNTIME_LIB);
    const char *rtflags = getenv("MAPC_RUNTIME_CFLAGS") ? getenv("MAPC_RUNTIME_CFLAGS") : MAPC_RUNTIME_CFLAGS;
    const char *cc = env_or("MAPC_CC", "cc");
    char dir[4096], prog[4200];
    if (!status) {
        struct stat ls;
        if (stat(lib, &ls) != 0) {
            fprintf(stderr, "mapc preview: runtime library %s not found (build it, or set "
                    "MAPC_RUNTIME_LIB)\n", lib);
            status = 2;
        } else {
            uint64_t h = 14695981039346656037ull;
            for (size_t k = 0; k < out.n; k++) {
                h = fnv(h, out.files[k].name, strlen(out.files[k].name));
                h = fnv(h, out.files[k].text, out.files[k].len);
            }
            h = fnv(h, driver, strlen(driver));
            h = fnv(h, inc, strlen(inc));
            h = fnv(h, lib, strlen(lib));
            h = fnv(h, rtflags, strlen(rtflags));
            h = fnv(h, cc, strlen(cc));
            long long stamp[2] = {(long long)ls.st_size, (long long)ls.st_mtime};
            h = fnv(h, stamp, sizeof stamp);
            char root[4000];
            if (cache)
                snprintf(root, sizeof root, "%s", cache);
            else if (getenv("XDG_CACHE_HOME") && *getenv("XDG_CACHE_HOME"))
                snprintf(root, sizeof root, "%s/mapc", getenv("XDG_CACHE_HOME"));
            else
                snprintf(root, sizeof root, "%s/.cache/mapc", env_or("HOME", "/tmp"));
            snprintf(dir, sizeof dir, "%s/%016llx", root, (unsigned long long)h);
            snprintf(prog, sizeof prog, "%s/preview", dir);
        }
    }
    char srcdir[4300];
    snprintf(srcdir, sizeof srcdir, "%s/src.%ld", dir, (long)getpid());
    if (!status && access(prog, X_OK) != 0) {
        if (mkdirs(srcdir) != 0) {
            fprintf(stderr, "mapc preview: cannot create %s: %s\n", dir, strerror(errno));
            status = 2;
        } else if (emit_write_dir(&out, srcdir, err, sizeof err) != 0) {
            fprintf(stderr, "mapc preview: %s\n", err);
            status = 2;
        } else {
            char path[4400], tmp[4500];
            snprintf(path, sizeof path, "%s/preview_main.c", srcdir);
            FILE *o = fopen(path, "w");
            if (!o || fputs(driver, o) < 0 || fclose(o) != 0) {
                fprintf(stderr, "mapc preview: cannot write %s\n", path);
                status = 2;
            } else {
                snprintf(tmp, sizeof tmp, "%s/preview.tmp.%ld", dir, (long)getpid());
                char *args[200];
                int n = 0;
                char *ccdup = strdup(cc), *fls = strdup(rtflags);
                char incflag[4200], genflag[4400];
                snprintf(incflag, sizeof incflag, "-I%s", inc);
                snprintf(genflag, sizeof genflag, "-I%s", srcdir);
                if (!ccdup || !fls) {
                    status = 2;
                } else {
                    split_into(ccdup, args, &n, 10);
                    char *fixed[] = {"-std=c11", "-D_POSIX_C_SOURCE=200809L", "-Wall", "-Wextra",
                                     "-Werror", "-pedantic", "-O1", "-g"};
                    for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++)
                        args[n++] = fixed[k];
                    split_into(fls, args, &n, 60);
                    args[n++] = incflag;
                    args[n++] = genflag;
                    char **srcs = calloc(out.n + 1, sizeof *srcs);
                    for (size_t k = 0; srcs && k < out.n && n < 180; k++) {
                        size_t l = strlen(out.files[k].name);
                        if (l > 2 && !strcmp(out.files[k].name + l - 2, ".c")) {
                            size_t pl = strlen(srcdir) + l + 2;
                            srcs[k] = malloc(pl);
                            if (srcs[k]) {
                                snprintf(srcs[k], pl, "%s/%s", srcdir, out.files[k].name);
                                args[n++] = srcs[k];
                            }
                        }
                    }
                    args[n++] = path;
                    args[n++] = (char *)lib;
                    args[n++] = "-lm";
                    args[n++] = "-o";
                    args[n++] = tmp;
                    args[n] = NULL;
                    int crc = srcs ? run_wait(args) : -1;
                    if (crc != 0) {
                        fprintf(stderr, "mapc preview: compiling the generated code failed (%s)\n", srcdir);
                        status = 2;
                    } else if (rename(tmp, prog) != 0) {
                        fprintf(stderr, "mapc preview: cannot rename %s\n", tmp);
                        status = 2;
                    } else {
                        /* keep one copy of the sources next to the binary for reading */
                        char keep[4300];
                        snprintf(keep, sizeof keep, "%s/src", dir);
                        if (rename(srcdir, keep) != 0) {   /* another preview kept its copy */
                            char f[4600];
                            for (size_t k = 0; k < out.n; k++) {
                                snprintf(f, sizeof f, "%s/%s", srcdir, out.files[k].name);
                                unlink(f);
                            }
                            unlink(path);
                            rmdir(srcdir);
                        }
                    }
                    for (size_t k = 0; srcs && k < out.n; k++)
                        free(srcs[k]);
                    free(srcs);
                }
                free(ccdup);
                free(fls);
            }
        }
    }
    free(driver);
    emit_output_free(&out);
    mapc_cli_unload(p, &d);
    if (status)
        return status;
    fflush(NULL);
    /* run: replace this process, stdin and stdout stay the caller's */
    char *args[64];
    int n = 0;
    char *wrap = getenv("MAPC_PREVIEW_WRAPPER") ? strdup(getenv("MAPC_PREVIEW_WRAPPER")) : NULL;
    if (wrap)
        split_into(wrap, args, &n, 60);
    args[n++] = prog;
    args[n] = NULL;
    execvp(args[0], args);
    fprintf(stderr, "mapc preview: cannot run %s: %s\n", args[0], strerror(errno));
    free(wrap);
    return 2;
}
