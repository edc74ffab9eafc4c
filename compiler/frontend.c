/* frontend.c - the front end's program object: reading and parsing files, lookups, freeing
 * (see frontend.h; the checking itself lives in check.c). */
#include "frontend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

mapc_program *mapc_program_new(diag_ctx *d)
{
    mapc_program *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->diag = d;
    ast_vec_init(&p->files, ast_free_file_v);
    return p;
}

void mapc_program_free(mapc_program *p)
{
    if (!p)
        return;
    ast_vec_clear(&p->files);
    for (size_t i = 0; i < p->nslots; i++) {
        mapc_schema_slot *s = p->slots[i];
        schema_free(s->s);
        free(s->path);
        for (size_t k = 0; k < s->nwant; k++)
            free(s->want[k]);
        free(s->want);
        free(s);
    }
    free(p->slots);
    free(p);
}

static int add_text(mapc_program *p, const char *name, char *text, size_t len)
{
    int id = diag_add_source(p->diag, name, text, len);
    if (id < 0) {
        diag_error(p->diag, MAPC_NOLOC, "out of memory");
        return -2;
    }
    ast_file *f = NULL;
    int rc = mapc_parse(p->diag, id, &f);
    if (f && !ast_vec_push(&p->files, f))
        rc = -2;
    if (rc == -2)
        diag_error(p->diag, MAPC_NOLOC, "out of memory while parsing '%s'", name);
    return rc;
}

int mapc_program_add_source(mapc_program *p, const char *name, const char *text, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy) {
        diag_error(p->diag, MAPC_NOLOC, "out of memory");
        return -2;
    }
    memcpy(copy, text, len);
    copy[len] = 0;
    return add_text(p, name, copy, len);
}

int mapc_program_add_file(mapc_program *p, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_error(p->diag, MAPC_NOLOC, "cannot read '%s': %s", path, strerror(errno));
        return -2;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            size_t ncap = cap ? 2 * cap : 8192;
            char *n = realloc(buf, ncap);
            if (!n) {
                free(buf);
                fclose(f);
                diag_error(p->diag, MAPC_NOLOC, "out of memory reading '%s'", path);
                return -2;
            }
            buf = n;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        diag_error(p->diag, MAPC_NOLOC, "cannot read '%s': I/O error", path);
        return -2;
    }
    buf[len] = 0;
    return add_text(p, path, buf, len);
}

static const ast_decl *find_global(const mapc_program *p, ast_decl_kind kind, const char *name)
{
    for (size_t i = 0; i < p->files.n; i++) {
        const ast_file *f = p->files.items[i];
        for (size_t k = 0; k < f->decls.n; k++) {
            const ast_decl *d = f->decls.items[k];
            if (d && d->kind == kind && d->name && !strcmp(d->name, name))
                return d;
        }
    }
    return NULL;
}

const ast_decl *mapc_program_find_map(const mapc_program *p, const char *name)
{
    return find_global(p, AD_MAP, name);
}

const ast_decl *mapc_program_find_flow(const mapc_program *p, const char *name)
{
    return find_global(p, AD_FLOW, name);
}

const ast_decl *mapc_program_find_decl(const mapc_program *p, int file_id, ast_decl_kind kind,
                                       const char *name)
{
    for (size_t i = 0; i < p->files.n; i++) {
        const ast_file *f = p->files.items[i];
        if (f->file_id != file_id)
            continue;
        for (size_t k = 0; k < f->decls.n; k++) {
            const ast_decl *d = f->decls.items[k];
            if (d && d->kind == kind && d->name && !strcmp(d->name, name))
                return d;
        }
    }
    return NULL;
}
