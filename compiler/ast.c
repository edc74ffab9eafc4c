/* ast.c - constructors and destructors of the .map syntax tree (see ast.h).
 *
 * Constructors take ownership of their arguments: on success they belong to the new node, on
 * failure (out of memory) they are freed and NULL comes back, so the parser never leaks. */
#include "ast.h"

#include <stdlib.h>
#include <string.h>

/* ---- vectors ---- */
void ast_vec_init(ast_vec *v, void (*free_item)(void *))
{
    v->items = NULL;
    v->n = v->cap = 0;
    v->free_item = free_item;
}

bool ast_vec_push(ast_vec *v, void *item)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 4;
        void **n = realloc(v->items, cap * sizeof *n);
        if (!n) {
            if (v->free_item && item)
                v->free_item(item);
            return false;
        }
        v->items = n;
        v->cap = cap;
    }
    v->items[v->n++] = item;
    return true;
}

void ast_vec_clear(ast_vec *v)
{
    if (v->free_item)
        for (size_t i = 0; i < v->n; i++)
            v->free_item(v->items[i]);
    free(v->items);
    v->items = NULL;
    v->n = v->cap = 0;
}

ast_vec *ast_vec_new(void (*free_item)(void *))
{
    ast_vec *v = malloc(sizeof *v);
    if (v)
        ast_vec_init(v, free_item);
    return v;
}

void ast_vec_free(ast_vec *v)
{
    if (!v)
        return;
    ast_vec_clear(v);
    free(v);
}

/* Move a heap vector's items into an embedded one and free the heap shell. */
static void vec_take(ast_vec *dst, ast_vec *src, void (*free_item)(void *))
{
    ast_vec_init(dst, free_item);
    if (!src)
        return;
    *dst = *src;
    dst->free_item = free_item;
    free(src);
}

mapc_loc ast_span(mapc_loc a, mapc_loc b)
{
    mapc_loc r = a;
    if (b.end > r.end)
        r.end = b.end;
    if (b.start < r.start)
        r.start = b.start;
    return r;
}

const char *mapc_tkind_name(mapc_tkind k)
{
    switch (k) {
    case MT_ERROR: return "<error>";
    case MT_NULL: return "null";
    case MT_STRING: return "string";
    case MT_INT: return "int";
    case MT_DECIMAL: return "decimal";
    case MT_BOOL: return "bool";
    case MT_DATE: return "date";
    case MT_DATETIME: return "datetime";
    case MT_TIME: return "time";
    case MT_GUID: return "guid";
    case MT_BINARY: return "binary";
    case MT_ENUM: return "enum";
    case MT_ANYENUM: return "enum";
    case MT_NOYES: return "NoYes";
    case MT_OBJECT: return "object";
    case MT_LIST: return "list";
    case MT_ANY: return "any";
    }
    return "?";
}

const char *ast_op_text(ast_op op)
{
    switch (op) {
    case OP_NEG: return "-";
    case OP_NOT: return "not";
    case OP_ADD: return "+";
    case OP_SUB: return "-";
    case OP_MUL: return "*";
    case OP_DIV: return "/";
    case OP_CONCAT: return "++";
    case OP_EQ: return "==";
    case OP_NE: return "!=";
    case OP_LT: return "<";
    case OP_LE: return "<=";
    case OP_GT: return ">";
    case OP_GE: return ">=";
    case OP_AND: return "and";
    case OP_OR: return "or";
    case OP_COALESCE: return "??";
    }
    return "?";
}

const char *ast_mode_name(ast_map_mode m)
{
    switch (m) {
    case MODE_CREATE: return "create";
    case MODE_UPDATE: return "update";
    case MODE_UPSERT: return "upsert";
    }
    return "?";
}

/* ---- expressions ---- */
static ast_expr *expr_alloc(ast_expr_kind kind, mapc_loc loc)
{
    ast_expr *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->kind = kind;
    e->loc = loc;
    e->name_loc = loc;
    ast_vec_init(&e->args, ast_free_expr_v);
    return e;
}

ast_expr *ast_new_literal(ast_expr_kind kind, char *text, mapc_loc loc)
{
    ast_expr *e = expr_alloc(kind, loc);
    if (!e) {
        free(text);
        return NULL;
    }
    e->text = text;
    return e;
}

ast_expr *ast_new_negative(ast_expr_kind kind, char *digits, mapc_loc loc)
{
    size_t n = strlen(digits);
    char *t = malloc(n + 2);
    if (!t) {
        free(digits);
        return NULL;
    }
    t[0] = '-';
    memcpy(t + 1, digits, n + 1);
    free(digits);
    return ast_new_literal(kind, t, loc);
}

ast_expr *ast_new_bool(bool value, mapc_loc loc)
{
    ast_expr *e = expr_alloc(AE_BOOL, loc);
    if (e)
        e->bval = value;
    return e;
}

ast_expr *ast_new_null(mapc_loc loc) { return expr_alloc(AE_NULL, loc); }

ast_expr *ast_new_name(char *name, mapc_loc loc) { return ast_new_literal(AE_NAME, name, loc); }

ast_expr *ast_new_field(ast_expr *base, char *name, mapc_loc name_loc, mapc_loc loc)
{
    ast_expr *e = expr_alloc(AE_FIELD, loc);
    if (!e) {
        ast_free_expr(base);
        free(name);
        return NULL;
    }
    e->a = base;
    e->text = name;
    e->name_loc = name_loc;
    return e;
}

ast_expr *ast_new_index(ast_expr *base, ast_expr *index, mapc_loc loc)
{
    ast_expr *e = expr_alloc(AE_INDEX, loc);
    if (!e) {
        ast_free_expr(base);
        ast_free_expr(index);
        return NULL;
    }
    e->a = base;
    e->b = index;
    return e;
}

ast_expr *ast_new_call(char *name, mapc_loc name_loc, ast_vec *args, mapc_loc loc)
{
    ast_expr *e = expr_alloc(AE_CALL, loc);
    if (!e) {
        free(name);
        ast_vec_free(args);
        return NULL;
    }
    e->text = name;
    e->name_loc = name_loc;
    vec_take(&e->args, args, ast_free_expr_v);
    return e;
}

ast_expr *ast_new_unary(ast_op op, ast_expr *a, mapc_loc loc)
{
    ast_expr *e = expr_alloc(AE_UNARY, loc);
    if (!e) {
        ast_free_expr(a);
        return NULL;
    }
    e->op = op;
    e->a = a;
    return e;
}

ast_expr *ast_new_binary(ast_op op, ast_expr *a, ast_expr *b, mapc_loc loc)
{
    ast_expr *e = expr_alloc(AE_BINARY, loc);
    if (!e) {
        ast_free_expr(a);
        ast_free_expr(b);
        return NULL;
    }
    e->op = op;
    e->a = a;
    e->b = b;
    return e;
}

ast_expr *ast_new_if(ast_expr *c, ast_expr *t, ast_expr *f, mapc_loc loc)
{
    ast_expr *e = expr_alloc(AE_IF, loc);
    if (!e) {
        ast_free_expr(c);
        ast_free_expr(t);
        ast_free_expr(f);
        return NULL;
    }
    e->a = c;
    e->b = t;
    e->c = f;
    return e;
}

ast_expr *ast_new_match(ast_expr *subject, ast_vec *cases, ast_expr *otherwise, mapc_loc loc)
{
    ast_expr *e = expr_alloc(AE_MATCH, loc);
    if (!e) {
        ast_free_expr(subject);
        ast_vec_free(cases);
        ast_free_expr(otherwise);
        return NULL;
    }
    e->a = subject;
    e->c = otherwise;
    vec_take(&e->args, cases, ast_free_case_v);
    return e;
}

ast_expr *ast_new_ref(ast_qname *set, char *by, mapc_loc by_loc, ast_expr *key, char *get,
                      mapc_loc get_loc, mapc_loc loc)
{
    ast_expr *e = expr_alloc(AE_REF, loc);
    if (!e) {
        ast_free_qname(set);
        free(by);
        ast_free_expr(key);
        free(get);
        return NULL;
    }
    e->refset = set;
    e->by = by;
    e->by_loc = by_loc;
    e->a = key;
    e->text = get;
    e->name_loc = get_loc;
    return e;
}

ast_case *ast_new_case(ast_vec *labels, ast_expr *value, mapc_loc loc)
{
    ast_case *c = calloc(1, sizeof *c);
    if (!c) {
        ast_vec_free(labels);
        ast_free_expr(value);
        return NULL;
    }
    c->loc = loc;
    vec_take(&c->labels, labels, ast_free_expr_v);
    c->value = value;
    return c;
}

/* ---- names and paths ---- */
ast_qname *ast_new_qname(char *schema_name, mapc_loc schema_loc, char *name, mapc_loc name_loc)
{
    ast_qname *q = calloc(1, sizeof *q);
    if (!q) {
        free(schema_name);
        free(name);
        return NULL;
    }
    q->schema = schema_name;
    q->name = name;
    q->schema_loc = schema_loc;
    q->name_loc = name_loc;
    q->loc = ast_span(schema_loc, name_loc);
    return q;
}

ast_path *ast_new_path(char *name, mapc_loc loc)
{
    ast_path *p = calloc(1, sizeof *p);
    if (!p) {
        free(name);
        return NULL;
    }
    p->loc = loc;
    return ast_path_append(p, name, loc);
}

ast_path *ast_path_append(ast_path *p, char *name, mapc_loc loc)
{
    char **names = realloc(p->names, (p->n + 1) * sizeof *names);
    if (names)
        p->names = names;
    mapc_loc *locs = realloc(p->locs, (p->n + 1) * sizeof *locs);
    if (locs)
        p->locs = locs;
    if (!names || !locs) {
        free(name);
        ast_free_path(p);
        return NULL;
    }
    p->names[p->n] = name;
    p->locs[p->n] = loc;
    p->n++;
    p->loc = ast_span(p->loc, loc);
    return p;
}

/* ---- map items ---- */
static ast_item *item_alloc(ast_item_kind kind, mapc_loc loc)
{
    ast_item *i = calloc(1, sizeof *i);
    if (i) {
        i->kind = kind;
        i->loc = loc;
    }
    return i;
}

ast_item *ast_new_assign(ast_path *path, ast_expr *value, mapc_loc loc)
{
    ast_item *i = item_alloc(AI_ASSIGN, loc);
    if (!i) {
        ast_free_path(path);
        ast_free_expr(value);
        return NULL;
    }
    i->path = path;
    i->value = value;
    return i;
}

ast_item *ast_new_check(ast_expr *cond, char *message, mapc_loc message_loc, mapc_loc loc)
{
    ast_item *i = item_alloc(AI_CHECK, loc);
    if (!i) {
        ast_free_expr(cond);
        free(message);
        return NULL;
    }
    i->value = cond;
    i->message = message;
    i->message_loc = message_loc;
    return i;
}

ast_item *ast_new_generated(ast_path *path, mapc_loc loc)
{
    ast_item *i = item_alloc(AI_GENERATED, loc);
    if (!i) {
        ast_free_path(path);
        return NULL;
    }
    i->path = path;
    return i;
}

ast_item *ast_new_where(ast_expr *cond, char *text, mapc_loc loc)
{
    ast_item *i = item_alloc(AI_WHERE, loc);
    if (!i) {
        ast_free_expr(cond);
        free(text);
        return NULL;
    }
    i->value = cond;
    i->message = text;
    i->message_loc = cond ? cond->loc : loc;
    return i;
}

bool ast_items_add_group(ast_vec *items, ast_vec *group, mapc_loc kw_loc)
{
    ast_item *marker = item_alloc(AI_GROUP, kw_loc);
    if (!marker || !ast_vec_push(items, marker)) {
        ast_vec_free(group);
        return false;
    }
    marker->group_loc = kw_loc;
    bool ok = true;
    for (size_t k = 0; k < group->n && ok; k++) {
        ast_item *it = group->items[k];
        group->items[k] = NULL;
        if (!it->on_create && it->kind != AI_GROUP)
            it->group_loc = kw_loc;
        it->on_create = true;
        ok = ast_vec_push(items, it);
    }
    ast_vec_free(group);
    return ok;
}

ast_entry *ast_new_entry(char *key, mapc_loc key_loc, ast_expr *value)
{
    ast_entry *e = calloc(1, sizeof *e);
    if (!e) {
        free(key);
        ast_free_expr(value);
        return NULL;
    }
    e->key = key;
    e->key_loc = key_loc;
    e->value = value;
    return e;
}

/* ---- declarations ---- */
static ast_decl *decl_alloc(ast_decl_kind kind, char *name, mapc_loc name_loc, mapc_loc loc)
{
    ast_decl *d = calloc(1, sizeof *d);
    if (!d) {
        free(name);
        return NULL;
    }
    d->kind = kind;
    d->name = name;
    d->name_loc = name_loc;
    d->loc = loc;
    d->file_id = loc.file;
    ast_vec_init(&d->entries, ast_free_entry_v);
    ast_vec_init(&d->items, ast_free_item_v);
    ast_vec_init(&d->create_groups, ast_free_item_v);
    ast_vec_init(&d->wheres, ast_free_item_v);
    ast_vec_init(&d->fitems, ast_free_fitem_v);
    return d;
}

ast_decl *ast_new_schema(char *name, mapc_loc name_loc, schema_format fmt, char *path,
                         mapc_loc path_loc, mapc_loc loc)
{
    ast_decl *d = decl_alloc(AD_SCHEMA, name, name_loc, loc);
    if (!d) {
        free(path);
        return NULL;
    }
    d->format = fmt;
    d->path = path;
    d->path_loc = path_loc;
    return d;
}

ast_decl *ast_new_csv_table(char *name, mapc_loc name_loc, char *path, mapc_loc path_loc,
                            char *key_col, mapc_loc key_loc, char *value_col,
                            mapc_loc value_loc, mapc_loc loc)
{
    ast_decl *d = decl_alloc(AD_TABLE, name, name_loc, loc);
    if (!d) {
        free(path);
        free(key_col);
        free(value_col);
        return NULL;
    }
    d->csv = true;
    d->path = path;
    d->path_loc = path_loc;
    d->key_col = key_col;
    d->key_loc = key_loc;
    d->value_col = value_col;
    d->value_loc = value_loc;
    return d;
}

ast_decl *ast_new_inline_table(char *name, mapc_loc name_loc, ast_vec *entries, mapc_loc loc)
{
    ast_decl *d = decl_alloc(AD_TABLE, name, name_loc, loc);
    if (!d) {
        ast_vec_free(entries);
        return NULL;
    }
    vec_take(&d->entries, entries, ast_free_entry_v);
    return d;
}

ast_decl *ast_new_map(char *name, mapc_loc name_loc, ast_qname *src, char *var, mapc_loc var_loc,
                      ast_qname *dst, ast_map_mode mode, mapc_loc mode_loc, char *mode_key,
                      mapc_loc mode_key_loc, ast_vec *items, mapc_loc loc)
{
    ast_decl *d = decl_alloc(AD_MAP, name, name_loc, loc);
    if (!d) {
        ast_free_qname(src);
        free(var);
        ast_free_qname(dst);
        free(mode_key);
        ast_vec_free(items);
        return NULL;
    }
    d->src = src;
    d->var = var;
    d->var_loc = var_loc;
    d->dst = dst;
    d->mode = mode;
    d->mode_loc = mode_loc;
    d->mode_key = mode_key;
    d->mode_key_loc = mode_key_loc;
    vec_take(&d->items, items, ast_free_item_v);
    /* the AI_GROUP markers of `on create` groups move to create_groups */
    size_t kept = 0;
    for (size_t i = 0; i < d->items.n; i++) {
        ast_item *it = d->items.items[i];
        if (it->kind != AI_GROUP && it->kind != AI_WHERE)
            d->items.items[kept++] = it;
        else if (!ast_vec_push(it->kind == AI_WHERE ? &d->wheres : &d->create_groups, it)) {
            for (size_t k = i + 1; k < d->items.n; k++)
                ast_free_item(d->items.items[k]);
            d->items.n = kept;
            ast_free_decl(d);
            return NULL;
        }
    }
    d->items.n = kept;
    return d;
}

ast_decl *ast_new_flow(char *name, mapc_loc name_loc, ast_vec *items, mapc_loc loc)
{
    ast_decl *d = decl_alloc(AD_FLOW, name, name_loc, loc);
    if (!d) {
        ast_vec_free(items);
        return NULL;
    }
    vec_take(&d->fitems, items, ast_free_fitem_v);
    return d;
}

/* ---- flow items ---- */
static ast_fitem *fitem_alloc(ast_fitem_kind kind, mapc_loc loc)
{
    ast_fitem *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->kind = kind;
    f->loc = loc;
    ast_vec_init(&f->children, ast_free_child_v);
    ast_vec_init(&f->probes, ast_free_path_v);
    return f;
}

ast_fitem *ast_new_webhook(char *event, mapc_loc event_loc, mapc_loc loc)
{
    ast_fitem *f = fitem_alloc(FI_WEBHOOK, loc);
    if (!f) {
        free(event);
        return NULL;
    }
    f->text = event;
    f->text_loc = event_loc;
    return f;
}

ast_fitem *ast_new_poll(ast_qname *set, char *every, mapc_loc every_loc, char *since,
                        mapc_loc since_loc, mapc_loc loc)
{
    ast_fitem *f = fitem_alloc(FI_POLL, loc);
    if (!f) {
        ast_free_qname(set);
        free(every);
        free(since);
        return NULL;
    }
    f->set = set;
    f->every = every;
    f->every_loc = every_loc;
    f->name = since;
    f->name_loc = since_loc;
    return f;
}

ast_fitem *ast_new_schedule(char *every, mapc_loc every_loc, char *cron, mapc_loc cron_loc,
                            mapc_loc loc)
{
    ast_fitem *f = fitem_alloc(FI_SCHEDULE, loc);
    if (!f) {
        free(every);
        free(cron);
        return NULL;
    }
    f->every = every;
    f->every_loc = every_loc;
    f->text = cron;
    f->text_loc = cron_loc;
    return f;
}

ast_fitem *ast_new_write(ast_qname *set, char *map, mapc_loc map_loc, ast_vec *children,
                         bool changeset, mapc_loc loc)
{
    ast_fitem *f = fitem_alloc(FI_WRITE, loc);
    if (!f) {
        ast_free_qname(set);
        free(map);
        ast_vec_free(children);
        return NULL;
    }
    f->set = set;
    f->name = map;
    f->name_loc = map_loc;
    vec_take(&f->children, children, ast_free_child_v);
    f->changeset = changeset;
    return f;
}

ast_fitem *ast_new_bulk_write(ast_qname *op, char *member, mapc_loc member_loc, char *map,
                              mapc_loc map_loc, mapc_loc loc)
{
    ast_fitem *f = fitem_alloc(FI_WRITE, loc);
    if (!f) {
        ast_free_qname(op);
        free(member);
        free(map);
        return NULL;
    }
    f->set = op;
    f->bulk = true;
    f->member = member;
    f->member_loc = member_loc;
    f->name = map;
    f->name_loc = map_loc;
    return f;
}

ast_fitem *ast_new_idempotent(char *field, mapc_loc field_loc, mapc_loc loc)
{
    ast_fitem *f = fitem_alloc(FI_IDEMPOTENT, loc);
    if (!f) {
        free(field);
        return NULL;
    }
    f->name = field;
    f->name_loc = field_loc;
    return f;
}

ast_fitem *ast_new_dedup(ast_vec *probes, mapc_loc loc)
{
    ast_fitem *f = fitem_alloc(FI_DEDUP, loc);
    if (!f) {
        ast_vec_free(probes);
        return NULL;
    }
    vec_take(&f->probes, probes, ast_free_path_v);
    return f;
}

ast_fitem *ast_new_retry(char *count, mapc_loc count_loc, char *bmin, char *bmax,
                         mapc_loc backoff_loc, mapc_loc loc)
{
    ast_fitem *f = fitem_alloc(FI_RETRY, loc);
    if (!f) {
        free(count);
        free(bmin);
        free(bmax);
        return NULL;
    }
    f->count = count;
    f->count_loc = count_loc;
    f->backoff_min = bmin;
    f->backoff_max = bmax;
    f->backoff_loc = backoff_loc;
    return f;
}

ast_child *ast_new_child(ast_qname *set, ast_expr *from, char *map, mapc_loc map_loc,
                         mapc_loc loc)
{
    ast_child *c = calloc(1, sizeof *c);
    if (!c) {
        ast_free_qname(set);
        ast_free_expr(from);
        free(map);
        return NULL;
    }
    c->set = set;
    c->from = from;
    c->map = map;
    c->map_loc = map_loc;
    c->loc = loc;
    return c;
}

ast_file *ast_new_file(int file_id)
{
    ast_file *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->file_id = file_id;
    ast_vec_init(&f->decls, ast_free_decl_v);
    return f;
}

bool ast_file_add(ast_file *f, ast_decl *d) { return ast_vec_push(&f->decls, d); }

/* ---- destructors ---- */
void ast_free_expr(ast_expr *e)
{
    if (!e)
        return;
    free(e->text);
    ast_free_expr(e->a);
    ast_free_expr(e->b);
    ast_free_expr(e->c);
    ast_vec_clear(&e->args);
    ast_free_qname(e->refset);
    free(e->by);
    free(e);
}

void ast_free_case(ast_case *c)
{
    if (!c)
        return;
    ast_vec_clear(&c->labels);
    ast_free_expr(c->value);
    free(c);
}

void ast_free_qname(ast_qname *q)
{
    if (!q)
        return;
    free(q->schema);
    free(q->name);
    free(q);
}

void ast_free_path(ast_path *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->names[i]);
    free(p->names);
    free(p->locs);
    free(p);
}

void ast_free_item(ast_item *i)
{
    if (!i)
        return;
    ast_free_path(i->path);
    ast_free_expr(i->value);
    free(i->message);
    free(i->props);
    free(i);
}

void ast_free_entry(ast_entry *e)
{
    if (!e)
        return;
    free(e->key);
    ast_free_expr(e->value);
    free(e);
}

void ast_free_child(ast_child *c)
{
    if (!c)
        return;
    ast_free_qname(c->set);
    ast_free_expr(c->from);
    free(c->map);
    free(c);
}

void ast_free_fitem(ast_fitem *f)
{
    if (!f)
        return;
    free(f->text);
    ast_free_qname(f->set);
    free(f->every);
    free(f->name);
    ast_vec_clear(&f->children);
    ast_vec_clear(&f->probes);
    free(f->count);
    free(f->backoff_min);
    free(f->backoff_max);
    ast_free_path(f->group_by);
    free(f->member);
    free(f->bulk_method);
    free(f->bulk_route);
    free(f->bulk_request);
    free(f);
}

void ast_free_decl(ast_decl *d)
{
    if (!d)
        return;
    free(d->name);
    free(d->path);
    free(d->key_col);
    free(d->value_col);
    ast_vec_clear(&d->entries);
    ast_free_qname(d->src);
    ast_free_qname(d->dst);
    free(d->var);
    free(d->mode_key);
    ast_vec_clear(&d->items);
    ast_vec_clear(&d->create_groups);
    ast_vec_clear(&d->wheres);
    ast_vec_clear(&d->fitems);
    free(d->group_name);
    free(d);
}

void ast_free_file(ast_file *f)
{
    if (!f)
        return;
    ast_vec_clear(&f->decls);
    free(f);
}

void ast_free_expr_v(void *p) { ast_free_expr(p); }
void ast_free_case_v(void *p) { ast_free_case(p); }
void ast_free_item_v(void *p) { ast_free_item(p); }
void ast_free_path_v(void *p) { ast_free_path(p); }
void ast_free_entry_v(void *p) { ast_free_entry(p); }
void ast_free_child_v(void *p) { ast_free_child(p); }
void ast_free_fitem_v(void *p) { ast_free_fitem(p); }
void ast_free_decl_v(void *p) { ast_free_decl(p); }
void ast_free_file_v(void *p) { ast_free_file(p); }
