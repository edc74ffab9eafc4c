/* d365_query.c - reads on the D365 emulator: the $filter language F&O accepts (eq ne gt ge lt le,
 * and or not, parentheses; string literals with '*' wildcards, numbers, unquoted date/times,
 * enum literals Namespace.Enum'Member', true/false/null, guids; contains/startswith/endswith),
 * type-checked against the schema like OData does, plus $select, $orderby, $top, $skip, $count,
 * one level of $expand and server-driven paging with an absolute @odata.nextLink. */
#include "d365_int.h"
#include "sb_http.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- $filter */

typedef enum { N_AND, N_OR, N_NOT, N_CMP, N_FUNC, N_BOOL } node_kind;
typedef enum { OP_EQ, OP_NE, OP_GT, OP_GE, OP_LT, OP_LE } cmp_op;
typedef enum { L_STRING, L_NUMBER, L_BOOL, L_NULL, L_DATETIME, L_ENUM, L_GUID } lit_kind;
typedef enum { FN_CONTAINS, FN_STARTS, FN_ENDS } fn_kind;

typedef struct fnode {
    node_kind kind;
    struct fnode *a, *b;
    cmp_op op;
    fn_kind fn;
    const schema_prop *prop;
    lit_kind lk;
    char *str;        /* string, enum member, guid */
    double num;
    long long when;   /* datetime */
    bool bval;
    json_t *defv;     /* the property's default: stored entities omit default values */
} fnode;

struct d365_filter {
    fnode *root;
};

typedef struct parser {
    const char *s;
    size_t pos;
    const schema *sch;
    const schema_type *t;
    char *msg;
    size_t msglen;
    bool failed;
    int depth;
} parser;

static void fnode_free(fnode *n)
{
    if (!n)
        return;
    fnode_free(n->a);
    fnode_free(n->b);
    free(n->str);
    json_decref(n->defv);
    free(n);
}

void d365_filter_free(d365_filter *f)
{
    if (!f)
        return;
    fnode_free(f->root);
    free(f);
}

static void perr(parser *p, const char *fmt, const char *arg)
{
    if (p->failed)
        return;
    p->failed = true;
    snprintf(p->msg, p->msglen, fmt, arg, (int)p->pos);
}

static void skip_ws(parser *p)
{
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
           p->s[p->pos] == '\r')
        p->pos++;
}

/* Is the next token the keyword kw (followed by a non-identifier character)? */
static bool kw(parser *p, const char *k)
{
    skip_ws(p);
    size_t n = strlen(k);
    if (strncmp(p->s + p->pos, k, n) != 0)
        return false;
    char c = p->s[p->pos + n];
    if (isalnum((unsigned char)c) || c == '_' || c == '.' || c == '\'')
        return false;
    p->pos += n;
    return true;
}

static bool punct(parser *p, char c)
{
    skip_ws(p);
    if (p->s[p->pos] == c) {
        p->pos++;
        return true;
    }
    return false;
}

static char *read_quoted(parser *p)
{
    /* at the opening quote */
    size_t cap = strlen(p->s + p->pos) + 1, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    p->pos++;
    for (;;) {
        char c = p->s[p->pos];
        if (!c) {
            free(buf);
            perr(p, "Syntax error: unterminated string literal%s at position %d in the $filter.", "");
            return NULL;
        }
        if (c == '\'') {
            if (p->s[p->pos + 1] == '\'') {
                buf[n++] = '\'';
                p->pos += 2;
                continue;
            }
            p->pos++;
            break;
        }
        buf[n++] = c;
        p->pos++;
    }
    buf[n] = '\0';
    return buf;
}

static bool is_guid_at(const char *s)
{
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return !isalnum((unsigned char)s[36]);
}

typedef struct operand {
    bool is_prop;
    const schema_prop *prop;
    lit_kind lk;
    char *str;
    double num;
    long long when;
    bool bval;
    char tname[160];  /* type name for messages */
} operand;

static bool parse_operand(parser *p, operand *o)
{
    memset(o, 0, sizeof *o);
    skip_ws(p);
    const char *s = p->s + p->pos;
    if (*s == '\'') {
        o->lk = L_STRING;
        o->str = read_quoted(p);
        snprintf(o->tname, sizeof o->tname, "Edm.String");
        return o->str != NULL;
    }
    if (is_guid_at(s) && (isdigit((unsigned char)*s) || isxdigit((unsigned char)*s)) &&
        s[8] == '-') {
        o->lk = L_GUID;
        o->str = strndup(s, 36);
        p->pos += 36;
        snprintf(o->tname, sizeof o->tname, "Edm.Guid");
        return o->str != NULL;
    }
    if (isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) && isdigit((unsigned char)s[2]) &&
        isdigit((unsigned char)s[3]) && s[4] == '-') {
        size_t n = 0;
        while (s[n] && (isdigit((unsigned char)s[n]) || strchr("-T:.Z+z", s[n])))
            n++;
        char buf[64];
        if (n >= sizeof buf) {
            perr(p, "Syntax error: bad date/time literal%s at position %d.", "");
            return false;
        }
        memcpy(buf, s, n);
        buf[n] = '\0';
        if (d365_parse_datetime(buf, &o->when) != 0) {
            perr(p, "The DateTimeOffset text '%s' should be in format 'yyyy-mm-ddThh:mm:ss('.'s+)"
                 "?(zzzzzz)?' and each field value is within valid range.", buf);
            return false;
        }
        o->lk = L_DATETIME;
        p->pos += n;
        snprintf(o->tname, sizeof o->tname, "Edm.DateTimeOffset");
        return true;
    }
    if (isdigit((unsigned char)*s) || ((*s == '-' || *s == '+') && (isdigit((unsigned char)s[1]) || s[1] == '.')) ||
        (*s == '.' && isdigit((unsigned char)s[1]))) {
        char *end;
        o->num = strtod(s, &end);
        size_t n = (size_t)(end - s);
        if (strchr("mMdDfFlL", s[n]) && s[n])
            n++;
        if (isalnum((unsigned char)s[n]) || s[n] == '_') {
            perr(p, "Syntax error at position %2$d in '%1$s'.", p->s);
            return false;
        }
        p->pos += n;
        o->lk = L_NUMBER;
        snprintf(o->tname, sizeof o->tname, "Edm.Decimal");
        return true;
    }
    if (isalpha((unsigned char)*s) || *s == '_') {
        size_t n = 0;
        while (isalnum((unsigned char)s[n]) || s[n] == '_' || s[n] == '.')
            n++;
        char *name = strndup(s, n);
        if (!name)
            return false;
        if (s[n] == '\'') {
            /* enum literal Namespace.Enum'Member' */
            p->pos += n;
            char *member = read_quoted(p);
            if (!member) {
                free(name);
                return false;
            }
            const schema_enum *e = schema_find_enum(p->sch, name);
            if (!e) {
                perr(p, "The type '%s' was not found in the model (enum literal at position %d).", name);
                free(name);
                free(member);
                return false;
            }
            const char *canon = NULL;
            for (size_t i = 0; i < e->nmembers; i++)
                if (strcmp(e->members[i].name, member) == 0)
                    canon = e->members[i].name;
            if (!canon) {
                char *end;
                long long v = strtoll(member, &end, 10);
                if (*member && !*end)
                    for (size_t i = 0; i < e->nmembers && !canon; i++)
                        if (e->members[i].value == v)
                            canon = e->members[i].name;
            }
            if (!canon) {
                char m[300];
                snprintf(m, sizeof m, "%s'%s'", name, member);
                perr(p, "The string '%s' is not a valid enumeration type constant (position %d).", m);
                free(name);
                free(member);
                return false;
            }
            o->lk = L_ENUM;
            o->str = strdup(canon);
            snprintf(o->tname, sizeof o->tname, "%s", e->qualified ? e->qualified : e->name);
            free(name);
            free(member);
            return o->str != NULL;
        }
        p->pos += n;
        if (strcmp(name, "true") == 0 || strcmp(name, "false") == 0) {
            o->lk = L_BOOL;
            o->bval = name[0] == 't';
            snprintf(o->tname, sizeof o->tname, "Edm.Boolean");
            free(name);
            return true;
        }
        if (strcmp(name, "null") == 0) {
            o->lk = L_NULL;
            snprintf(o->tname, sizeof o->tname, "null");
            free(name);
            return true;
        }
        const schema_prop *prop = schema_type_find_prop(p->t, name);
        if (!prop) {
            char m[400];
            snprintf(m, sizeof m, "Could not find a property named '%s' on type '%s'.", name,
                     d365_qualified(p->t));
            perr(p, "%s", m);
            free(name);
            return false;
        }
        free(name);
        o->is_prop = true;
        o->prop = prop;
        snprintf(o->tname, sizeof o->tname, "%s",
                 prop->type.name ? prop->type.name : schema_kind_name(prop->type.kind));
        return true;
    }
    perr(p, "Syntax error at position %2$d in '%1$s'.", p->s);
    return false;
}

static const char *op_kind_name(cmp_op op)
{
    static const char *const n[] = { "Equal", "NotEqual", "GreaterThan", "GreaterThanOrEqual",
                                     "LessThan", "LessThanOrEqual" };
    return n[op];
}

/* Check prop against literal; fill node. */
static bool typecheck(parser *p, fnode *n, const operand *pr, operand *lit, cmp_op op)
{
    const schema_prop *prop = pr->prop;
    bool ok = false;
    if (lit->lk == L_NULL) {
        ok = op == OP_EQ || op == OP_NE;
    } else {
        switch (prop->type.kind) {
        case SK_STRING:
            ok = lit->lk == L_STRING;
            break;
        case SK_INT32:
        case SK_INT64:
        case SK_DECIMAL:
        case SK_DOUBLE:
        case SK_TIME:
            ok = lit->lk == L_NUMBER;
            break;
        case SK_DATE:
        case SK_DATETIME:
            ok = lit->lk == L_DATETIME;
            break;
        case SK_BOOLEAN:
            ok = lit->lk == L_BOOL;
            break;
        case SK_GUID:
            ok = lit->lk == L_GUID;
            break;
        case SK_ENUM: {
            const schema_enum *e = prop->type.enumt;
            ok = lit->lk == L_ENUM && e &&
                 (strcmp(lit->tname, e->qualified ? e->qualified : e->name) == 0 ||
                  strcmp(lit->tname, e->name) == 0);
            if (ok && op != OP_EQ && op != OP_NE)
                ok = false;
            break;
        }
        default:
            ok = false;
        }
    }
    if (!ok) {
        char m[600];
        snprintf(m, sizeof m, "A binary operator with incompatible types was detected. Found "
                 "operand types '%s' and '%s' for operator kind '%s'.", pr->tname, lit->tname,
                 op_kind_name(op));
        perr(p, "%s", m);
        return false;
    }
    n->prop = prop;
    n->defv = d365_prop_default(prop);
    n->lk = lit->lk;
    n->str = lit->str;
    lit->str = NULL;
    n->num = lit->num;
    n->when = lit->when;
    n->bval = lit->bval;
    return true;
}

static fnode *parse_or(parser *p);

static fnode *new_node(node_kind k)
{
    return calloc(1, sizeof(fnode));
    (void)k;
}

static fnode *parse_primary(parser *p)
{
    if (++p->depth > 100) {
        perr(p, "The $filter is nested too deeply%s (position %d).", "");
        return NULL;
    }
    fnode *res = NULL;
    if (punct(p, '(')) {
        res = parse_or(p);
        if (res && !punct(p, ')')) {
            perr(p, "Syntax error: ')' expected at position %2$d in '%1$s'.", p->s);
            fnode_free(res);
            res = NULL;
        }
        p->depth--;
        return res;
    }
    static const struct { const char *name; fn_kind fn; } fns[] = {
        { "contains", FN_CONTAINS }, { "startswith", FN_STARTS }, { "endswith", FN_ENDS } };
    skip_ws(p);
    for (size_t i = 0; i < 3; i++) {
        size_t l = strlen(fns[i].name);
        if (strncmp(p->s + p->pos, fns[i].name, l) == 0) {
            size_t save = p->pos;
            p->pos += l;
            if (!punct(p, '(')) {
                p->pos = save;
                break;
            }
            operand a, b;
            if (!parse_operand(p, &a))
                goto out;
            if (!punct(p, ',') || !parse_operand(p, &b)) {
                free(a.str);
                perr(p, "Syntax error: ',' expected at position %2$d in '%1$s'.", p->s);
                goto out;
            }
            if (!punct(p, ')')) {
                free(a.str);
                free(b.str);
                perr(p, "Syntax error: ')' expected at position %2$d in '%1$s'.", p->s);
                goto out;
            }
            if (!a.is_prop || a.prop->type.kind != SK_STRING || b.is_prop || b.lk != L_STRING) {
                free(a.str);
                free(b.str);
                perr(p, "No function signature for the function with name '%s' matches the "
                     "specified arguments (position %d).", fns[i].name);
                goto out;
            }
            res = new_node(N_FUNC);
            if (!res) {
                free(b.str);
                goto out;
            }
            res->kind = N_FUNC;
            res->fn = fns[i].fn;
            res->prop = a.prop;
            res->defv = d365_prop_default(a.prop);
            res->str = b.str;
            goto out;
        }
    }
    {
        operand l, r;
        if (!parse_operand(p, &l))
            goto out;
        static const struct { const char *k; cmp_op op; } ops[] = {
            { "eq", OP_EQ }, { "ne", OP_NE }, { "gt", OP_GT }, { "ge", OP_GE },
            { "lt", OP_LT }, { "le", OP_LE } };
        int which = -1;
        for (int i = 0; i < 6 && which < 0; i++)
            if (kw(p, ops[i].k))
                which = i;
        if (which < 0) {
            if (l.is_prop && l.prop->type.kind == SK_BOOLEAN) {
                res = new_node(N_BOOL);
                if (res) {
                    res->kind = N_CMP;
                    res->op = OP_EQ;
                    res->prop = l.prop;
                    res->defv = d365_prop_default(l.prop);
                    res->lk = L_BOOL;
                    res->bval = true;
                }
                goto out;
            }
            free(l.str);
            if (!p->failed)
                perr(p, "Syntax error: a comparison operator (eq, ne, gt, ge, lt, le) is expected "
                     "at position %2$d in '%1$s'.", p->s);
            goto out;
        }
        if (!parse_operand(p, &r)) {
            free(l.str);
            goto out;
        }
        cmp_op op = ops[which].op;
        if (l.is_prop == r.is_prop) {
            free(l.str);
            free(r.str);
            perr(p, "Comparisons must have one property and one literal%s (position %d).", "");
            goto out;
        }
        res = new_node(N_CMP);
        if (!res) {
            free(l.str);
            free(r.str);
            goto out;
        }
        res->kind = N_CMP;
        res->op = op;
        bool ok;
        if (l.is_prop) {
            ok = typecheck(p, res, &l, &r, op);
        } else {
            /* literal op prop: flip the comparison */
            static const cmp_op flip[] = { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };
            res->op = flip[op];
            ok = typecheck(p, res, &r, &l, op);
        }
        free(l.str);
        free(r.str);
        if (!ok) {
            fnode_free(res);
            res = NULL;
        }
    }
out:
    p->depth--;
    return res;
}

static fnode *parse_not(parser *p)
{
    if (kw(p, "not")) {
        if (++p->depth > 100) {
            perr(p, "The $filter is nested too deeply%s (position %d).", "");
            return NULL;
        }
        fnode *a = parse_not(p);
        p->depth--;
        if (!a)
            return NULL;
        fnode *n = new_node(N_NOT);
        if (!n) {
            fnode_free(a);
            return NULL;
        }
        n->kind = N_NOT;
        n->a = a;
        return n;
    }
    return parse_primary(p);
}

static fnode *parse_and(parser *p)
{
    fnode *l = parse_not(p);
    while (l && kw(p, "and")) {
        fnode *r = parse_not(p);
        if (!r) {
            fnode_free(l);
            return NULL;
        }
        fnode *n = new_node(N_AND);
        if (!n) {
            fnode_free(l);
            fnode_free(r);
            return NULL;
        }
        n->kind = N_AND;
        n->a = l;
        n->b = r;
        l = n;
    }
    return l;
}

static fnode *parse_or(parser *p)
{
    fnode *l = parse_and(p);
    while (l && kw(p, "or")) {
        fnode *r = parse_and(p);
        if (!r) {
            fnode_free(l);
            return NULL;
        }
        fnode *n = new_node(N_OR);
        if (!n) {
            fnode_free(l);
            fnode_free(r);
            return NULL;
        }
        n->kind = N_OR;
        n->a = l;
        n->b = r;
        l = n;
    }
    return l;
}

d365_filter *d365_filter_parse(const schema *sch, const schema_type *t, const char *text,
                               char *msg, size_t msglen)
{
    parser p = { text, 0, sch, t, msg, msglen, false, 0 };
    fnode *root = parse_or(&p);
    skip_ws(&p);
    if (root && text[p.pos]) {
        perr(&p, "Syntax error at position %2$d in '%1$s'.", text);
        fnode_free(root);
        root = NULL;
    }
    if (!root) {
        if (!p.failed)
            snprintf(msg, msglen, "The query specified in the URI is not valid.");
        return NULL;
    }
    d365_filter *f = malloc(sizeof *f);
    if (!f) {
        fnode_free(root);
        return NULL;
    }
    f->root = root;
    return f;
}

/* case-insensitive glob with '*' */
static bool glob_ci(const char *pat, const char *s)
{
    if (!*pat)
        return !*s;
    if (*pat == '*') {
        while (*pat == '*')
            pat++;
        if (!*pat)
            return true;
        for (; *s; s++)
            if (glob_ci(pat, s))
                return true;
        return false;
    }
    if (!*s || tolower((unsigned char)*pat) != tolower((unsigned char)*s))
        return false;
    return glob_ci(pat + 1, s + 1);
}

static bool ci_contains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return true;
    return n == 0;
}

/* String comparison as F&O does it: its SQL Server collation (SQL_Latin1_General_CP1_CI_AS) is
 * case-insensitive, and '=' pads the shorter operand with blanks, so trailing blanks never
 * count ('ann@example.com' eq 'Ann@Example.COM  ' holds).  The dedup probes of customer 360
 * rely on it (docs/flows.md section 3). */
static int fo_collate(const char *a, const char *b)
{
    size_t an = strlen(a), bn = strlen(b);
    while (an && a[an - 1] == ' ')
        an--;
    while (bn && b[bn - 1] == ' ')
        bn--;
    int c = strncasecmp(a, b, an < bn ? an : bn);
    if (c)
        return c;
    return (an > bn) - (an < bn);
}

static bool cmp_result(int c, cmp_op op)
{
    switch (op) {
    case OP_EQ: return c == 0;
    case OP_NE: return c != 0;
    case OP_GT: return c > 0;
    case OP_GE: return c >= 0;
    case OP_LT: return c < 0;
    case OP_LE: return c <= 0;
    }
    return false;
}

static bool eval(const fnode *n, const json_t *ent)
{
    switch (n->kind) {
    case N_AND:
        return eval(n->a, ent) && eval(n->b, ent);
    case N_OR:
        return eval(n->a, ent) || eval(n->b, ent);
    case N_NOT:
        return !eval(n->a, ent);
    case N_BOOL:
        return false;
    case N_FUNC: {
        const char *v = d365_str(ent, n->prop->name);
        size_t lv = strlen(v), ls = strlen(n->str);
        if (n->fn == FN_CONTAINS)
            return ci_contains(v, n->str);
        if (n->fn == FN_STARTS)
            return strncasecmp(v, n->str, ls) == 0;
        return lv >= ls && strcasecmp(v + lv - ls, n->str) == 0;
    }
    case N_CMP:
        break;
    }
    json_t *v = json_object_get(ent, n->prop->name);
    if (!v)
        v = n->defv;
    if (n->lk == L_NULL) {
        bool isnull = !v || json_is_null(v);
        return n->op == OP_EQ ? isnull : !isnull;
    }
    if (!v || json_is_null(v))
        return n->op == OP_NE;
    int c = 0;
    switch (n->lk) {
    case L_STRING: {
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        if ((n->op == OP_EQ || n->op == OP_NE) && strchr(n->str, '*'))
            return glob_ci(n->str, s) == (n->op == OP_EQ);
        c = fo_collate(s, n->str);
        break;
    }
    case L_NUMBER: {
        double d = json_is_number(v) ? json_number_value(v) : 0;
        c = (d > n->num) - (d < n->num);
        break;
    }
    case L_DATETIME: {
        long long t = 0;
        if (json_is_string(v))
            d365_parse_datetime(json_string_value(v), &t);
        c = (t > n->when) - (t < n->when);
        break;
    }
    case L_BOOL:
        c = json_is_true(v) == n->bval ? 0 : 1;
        break;
    case L_ENUM:
    case L_GUID:
        c = json_is_string(v) ? strcasecmp(json_string_value(v), n->str) : 1;
        break;
    case L_NULL:
        break;
    }
    return cmp_result(c, n->op);
}

bool d365_filter_match(const d365_filter *f, const json_t *ent)
{
    return eval(f->root, ent);
}

static bool probe(const fnode *n, const char **field, const char **value)
{
    if (n->kind == N_AND)
        return probe(n->a, field, value) || probe(n->b, field, value);
    if (n->kind == N_CMP && n->op == OP_EQ && n->lk == L_STRING && !strchr(n->str, '*') &&
        d365_store_indexed(n->prop->name)) {
        *field = n->prop->name;
        *value = n->str;
        return true;
    }
    return false;
}

bool d365_filter_probe(const d365_filter *f, const char **field, const char **value)
{
    return probe(f->root, field, value);
}

/* ---------------------------------------------------------------- rendering */

typedef struct read_opts {
    const schema_prop **select;   /* NULL: every property */
    size_t nselect;
    const schema_nav **expand;
    struct read_opts *sub;        /* per expanded navigation: its nested $select */
    size_t nexpand;
} read_opts;

static void read_opts_free(read_opts *o)
{
    free(o->select);
    for (size_t i = 0; o->sub && i < o->nexpand; i++)
        free(o->sub[i].select);
    free(o->sub);
    free(o->expand);
}

static int parse_select(const schema_type *t, const char *text, read_opts *o, d365_resp *r)
{
    if (!text || !*text || strcmp(text, "*") == 0)
        return 0;
    char *copy = strdup(text), *save = NULL;
    size_t cap = t->nprops + 1;
    o->select = calloc(cap, sizeof *o->select);
    if (!copy || !o->select) {
        free(copy);
        d365_error(r, 500, D365_T_ODATA, "out of memory");
        return -1;
    }
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        char *e = tok + strlen(tok);
        while (e > tok && e[-1] == ' ')
            *--e = '\0';
        const schema_prop *p = schema_type_find_prop(t, tok);
        if (!p) {
            if (schema_type_find_nav(t, tok))
                continue; /* navigation in $select: rendered by $expand */
            d365_error(r, 400, D365_T_ODATA, "Could not find a property named '%s' on type '%s'.",
                       tok, d365_qualified(t));
            free(copy);
            return -1;
        }
        bool dup = false;
        for (size_t i = 0; i < o->nselect; i++)
            dup |= o->select[i] == p;
        if (!dup && o->nselect < cap)
            o->select[o->nselect++] = p;
    }
    free(copy);
    return 0;
}

/* $expand=Nav1,Nav2($select=A,B) : one level; the only nested option is $select. */
static int parse_expand(const schema *sch, const schema_type *t, const char *text, read_opts *o,
                        d365_resp *r)
{
    if (!text || !*text)
        return 0;
    char *copy = strdup(text);
    o->expand = calloc(t->nnav + 1, sizeof *o->expand);
    o->sub = calloc(t->nnav + 1, sizeof *o->sub);
    if (!copy || !o->expand || !o->sub) {
        free(copy);
        d365_error(r, 500, D365_T_ODATA, "out of memory");
        return -1;
    }
    int rc = -1;
    char *p = copy;
    while (*p) {
        /* one item up to a top-level comma */
        char *item = p;
        int depth = 0;
        while (*p && (depth > 0 || *p != ',')) {
            if (*p == '(')
                depth++;
            else if (*p == ')')
                depth--;
            p++;
        }
        if (*p)
            *p++ = '\0';
        while (*item == ' ')
            item++;
        char *opts = strchr(item, '(');
        if (opts) {
            size_t l = strlen(opts);
            if (l < 2 || opts[l - 1] != ')') {
                d365_error(r, 400, D365_T_ODATA, "Syntax error in $expand at '%s'.", item);
                goto out;
            }
            opts[l - 1] = '\0';
            *opts++ = '\0';
        }
        char *e = item + strlen(item);
        while (e > item && e[-1] == ' ')
            *--e = '\0';
        if (strchr(item, '/')) {
            d365_error(r, 400, D365_T_ODATA, "The $expand '%s' is not supported: only one level "
                       "of navigation.", item);
            goto out;
        }
        const schema_nav *nv = schema_type_find_nav(t, item);
        if (!nv) {
            d365_error(r, 400, D365_T_ODATA, "Could not find a property named '%s' on type '%s'.",
                       item, d365_qualified(t));
            goto out;
        }
        const schema_type *tt = schema_find_type(sch, nv->target);
        if (!tt || !schema_set_for_type(sch, nv->target)) {
            d365_error(r, 400, D365_T_ODATA, "The navigation property '%s' targets '%s', which "
                       "this environment does not serve.", item, nv->target);
            goto out;
        }
        if (o->nexpand >= t->nnav)
            continue;
        read_opts *sub = &o->sub[o->nexpand];
        o->expand[o->nexpand++] = nv;
        for (char *save = NULL, *opt = opts ? strtok_r(opts, ";", &save) : NULL; opt;
             opt = strtok_r(NULL, ";", &save)) {
            while (*opt == ' ')
                opt++;
            if (strncmp(opt, "$select=", 8) != 0) {
                d365_error(r, 400, D365_T_ODATA, "The nested option '%s' in $expand is not "
                           "supported: only $select.", opt);
                goto out;
            }
            free(sub->select);
            sub->select = NULL;
            sub->nselect = 0;
            if (parse_select(tt, opt + 8, sub, r) < 0)
                goto out;
        }
    }
    rc = 0;
out:
    free(copy);
    return rc;
}

/* Entity rendered for output: @odata.etag, then the properties (selected) in schema order. */
static json_t *render(d365_server *srv, const schema_type *t, const json_t *ent, long long ver,
                      const read_opts *o);

/* The rows related to ent through nv (array of [entity, version]), matched on the source keys
 * when the target has them all (header -> lines), else on the target keys when the source has
 * them all (line -> header).  *tt_out is the target type. */
static json_t *nav_rows(d365_server *srv, const schema_type *t, const json_t *ent,
                        const schema_nav *nv, const schema_type **tt_out)
{
    const schema_type *tt = schema_find_type(srv->sch, nv->target);
    const char *tset = schema_set_for_type(srv->sch, nv->target);
    *tt_out = tt;
    const char *const *fields = NULL;
    size_t nf = 0;
    bool all = t->nkeys > 0;
    for (size_t i = 0; i < t->nkeys; i++)
        all &= d365_has_prop(tt, t->keys[i]);
    if (all) {
        fields = t->keys;
        nf = t->nkeys;
    } else {
        all = tt->nkeys > 0;
        for (size_t i = 0; i < tt->nkeys; i++)
            all &= d365_has_prop(t, tt->keys[i]);
        if (all) {
            fields = tt->keys;
            nf = tt->nkeys;
        }
    }
    json_t *out = json_array();
    if (!nf)
        return out;
    const char *area = d365_has_prop(tt, "dataAreaId") && d365_has_prop(t, "dataAreaId")
                           ? d365_str(ent, "dataAreaId") : NULL;
    const char *probe = NULL;
    for (size_t i = 0; i < nf && !probe; i++)
        if (strcmp(fields[i], "dataAreaId") != 0 && json_is_string(json_object_get(ent, fields[i])))
            probe = fields[i];
    json_t *rows = probe ? d365_store_find(srv, tset, area, probe, d365_str(ent, probe))
                         : d365_store_scan(srv, tset, area);
    size_t i;
    json_t *pair;
    json_array_foreach(rows, i, pair) {
        json_t *e = json_array_get(pair, 0);
        bool match = true;
        for (size_t k = 0; k < nf && match; k++)
            match = json_equal(json_object_get(e, fields[k]), json_object_get(ent, fields[k])) ||
                    (json_is_string(json_object_get(e, fields[k])) &&
                     strcasecmp(d365_str(e, fields[k]), d365_str(ent, fields[k])) == 0);
        if (!match)
            continue;
        json_array_append(out, pair);
        if (!nv->collection)
            break;
    }
    json_decref(rows);
    return out;
}

static json_t *expand_nav(d365_server *srv, const schema_type *t, const json_t *ent,
                          const schema_nav *nv, const read_opts *sub)
{
    const schema_type *tt;
    json_t *rows = nav_rows(srv, t, ent, nv, &tt);
    read_opts none = { 0 };
    if (!sub)
        sub = &none;
    json_t *out = nv->collection ? json_array() : json_null();
    size_t i;
    json_t *pair;
    json_array_foreach(rows, i, pair) {
        json_t *rendered = render(srv, tt, json_array_get(pair, 0),
                                  json_integer_value(json_array_get(pair, 1)), sub);
        if (nv->collection) {
            json_array_append_new(out, rendered);
        } else {
            json_decref(out);
            out = rendered;
        }
    }
    json_decref(rows);
    return out;
}

static json_t *render(d365_server *srv, const schema_type *t, const json_t *ent, long long ver,
                      const read_opts *o)
{
    json_t *out = json_object();
    char *key = d365_key_of(t, ent);
    char etag[128];
    d365_etag(etag, sizeof etag, key ? key : "", ver);
    free(key);
    json_object_set_new(out, "@odata.etag", json_string(etag));
    if (o->select) {
        for (size_t i = 0; i < o->nselect; i++) {
            json_t *v = json_object_get(ent, o->select[i]->name);
            if (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v) &&
                fabs(json_real_value(v)) < 1e15)
                json_object_set_new(out, o->select[i]->name,
                                    json_integer((json_int_t)json_real_value(v)));
            else if (v)
                json_object_set(out, o->select[i]->name, v);
            else
                json_object_set_new(out, o->select[i]->name, d365_prop_default(o->select[i]));
        }
    } else {
        for (size_t i = 0; i < t->nprops; i++) {
            json_t *v = json_object_get(ent, t->props[i].name);
            if (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v) &&
                fabs(json_real_value(v)) < 1e15)
                json_object_set_new(out, t->props[i].name,
                                    json_integer((json_int_t)json_real_value(v)));
            else if (v)
                json_object_set(out, t->props[i].name, v);
            else
                json_object_set_new(out, t->props[i].name, d365_prop_default(&t->props[i]));
        }
    }
    for (size_t i = 0; i < o->nexpand; i++)
        json_object_set_new(out, o->expand[i]->name, expand_nav(srv, t, ent, o->expand[i], &o->sub[i]));
    return out;
}

/* ---- streaming text rendering: collections are written straight into one buffer (a 10,000
 * row page of 170-property entities would otherwise be millions of jansson values) ---- */

typedef struct tbuf {
    char *p;
    size_t n, cap;
    bool oom;
} tbuf;

static bool tb_grow(tbuf *b, size_t need)
{
    if (b->oom)
        return false;
    if (b->n + need + 1 <= b->cap)
        return true;
    size_t nc = b->cap ? b->cap : 65536;
    while (nc < b->n + need + 1)
        nc *= 2;
    char *np = realloc(b->p, nc);
    if (!np) {
        b->oom = true;
        return false;
    }
    b->p = np;
    b->cap = nc;
    return true;
}

static void tb_put(tbuf *b, const char *s, size_t n)
{
    if (!tb_grow(b, n))
        return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void tb_puts(tbuf *b, const char *s)
{
    tb_put(b, s, strlen(s));
}

/* a JSON string literal of s (valid UTF-8 from the store or the schema) */
static void tb_str(tbuf *b, const char *s)
{
    tb_put(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            char e[2] = { '\\', (char)c };
            tb_put(b, e, 2);
        } else if (c < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", c);
            tb_put(b, e, 6);
        } else {
            tb_put(b, (const char *)p, 1);
        }
    }
    tb_put(b, "\"", 1);
}

static void tb_value(tbuf *b, const json_t *v)
{
    if (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v) &&
        fabs(json_real_value(v)) < 1e15) {
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)json_real_value(v));
        tb_puts(b, num);
        return;
    }
    if (json_is_string(v)) {
        tb_str(b, json_string_value(v));
        return;
    }
    size_t need = json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    if (need && tb_grow(b, need)) {
        json_dumpb(v, b->p + b->n, need, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
        b->n += need;
        b->p[b->n] = '\0';
    }
}

/* The default value of every property of t as JSON text, computed once per type. */
static char *const *default_texts(d365_server *srv, const schema_type *t)
{
    for (size_t i = 0; i < srv->ndefaults; i++)
        if (srv->defaults[i].type == t)
            return srv->defaults[i].texts;
    if (srv->ndefaults == sizeof srv->defaults / sizeof srv->defaults[0])
        return NULL;
    char **texts = calloc(t->nprops + 1, sizeof *texts);
    if (!texts)
        return NULL;
    for (size_t i = 0; i < t->nprops; i++) {
        json_t *d = d365_prop_default(&t->props[i]);
        texts[i] = json_dumps(d, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(d);
        if (!texts[i]) {
            for (size_t k = 0; k < i; k++)
                free(texts[k]);
            free(texts);
            return NULL;
        }
    }
    srv->defaults[srv->ndefaults].type = t;
    srv->defaults[srv->ndefaults].texts = texts;
    srv->ndefaults++;
    return texts;
}

static void render_text(tbuf *b, d365_server *srv, const schema_type *t, const json_t *ent,
                        long long ver, const read_opts *o)
{
    char *key = d365_key_of(t, ent);
    char etag[128];
    d365_etag(etag, sizeof etag, key ? key : "", ver);
    free(key);
    tb_puts(b, "{\"@odata.etag\":");
    tb_str(b, etag);
    char *const *defs = default_texts(srv, t);
    size_t n = o->select ? o->nselect : t->nprops;
    for (size_t i = 0; i < n; i++) {
        const schema_prop *p = o->select ? o->select[i] : &t->props[i];
        tb_puts(b, ",\"");
        tb_puts(b, p->name);
        tb_puts(b, "\":");
        json_t *v = json_object_get(ent, p->name);
        if (v) {
            tb_value(b, v);
        } else if (defs) {
            tb_puts(b, defs[p - t->props]);
        } else {
            json_t *d = d365_prop_default(p);
            tb_value(b, d);
            json_decref(d);
        }
    }
    for (size_t i = 0; i < o->nexpand; i++) {
        const schema_nav *nv = o->expand[i];
        const schema_type *tt;
        json_t *rows = nav_rows(srv, t, ent, nv, &tt);
        tb_puts(b, ",\"");
        tb_puts(b, nv->name);
        tb_puts(b, "\":");
        if (nv->collection)
            tb_puts(b, "[");
        size_t k;
        json_t *pair;
        json_array_foreach(rows, k, pair) {
            if (k)
                tb_puts(b, ",");
            render_text(b, srv, tt, json_array_get(pair, 0),
                        json_integer_value(json_array_get(pair, 1)), &o->sub[i]);
        }
        if (nv->collection)
            tb_puts(b, "]");
        else if (!json_array_size(rows))
            tb_puts(b, "null");
        json_decref(rows);
    }
    tb_puts(b, "}");
}

static json_t *context(d365_server *srv, const char *set, const read_opts *o, bool entity)
{
    size_t cap = 256 + strlen(set);
    for (size_t i = 0; i < o->nselect; i++)
        cap += strlen(o->select[i]->name) + 1;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    int n = snprintf(buf, cap, "%s/data/$metadata#%s", srv->base_url, set);
    if (o->select) {
        n += snprintf(buf + n, cap - (size_t)n, "(");
        for (size_t i = 0; i < o->nselect; i++)
            n += snprintf(buf + n, cap - (size_t)n, "%s%s", i ? "," : "", o->select[i]->name);
        n += snprintf(buf + n, cap - (size_t)n, ")");
    }
    if (entity)
        snprintf(buf + n, cap - (size_t)n, "/$entity");
    json_t *s = json_string(buf);
    free(buf);
    return s;
}

/* ---------------------------------------------------------------- collections */

typedef struct sort_key {
    const schema_prop *prop;
    bool desc;
    json_t *defv;
} sort_key;

typedef struct sort_item {
    json_t *ent;
    long long ver;
    size_t idx;
} sort_item;

static const sort_key *g_keys; /* qsort has no context argument: guarded by srv->mu */
static size_t g_nkeys;

/* The order of a $orderby read.  Without $filter the store sorts (d365_store_scan_ordered): its
 * sort key is built to give exactly this order; change the two together. */
static int cmp_items(const void *a, const void *b)
{
    const sort_item *x = a, *y = b;
    for (size_t i = 0; i < g_nkeys; i++) {
        json_t *u = json_object_get(x->ent, g_keys[i].prop->name);
        json_t *v = json_object_get(y->ent, g_keys[i].prop->name);
        if (!u)
            u = g_keys[i].defv;
        if (!v)
            v = g_keys[i].defv;
        int c = 0;
        if (json_is_number(u) && json_is_number(v)) {
            double p = json_number_value(u), q = json_number_value(v);
            c = (p > q) - (p < q);
        } else if (json_is_string(u) && json_is_string(v)) {
            c = strcasecmp(json_string_value(u), json_string_value(v));
        } else {
            c = (u && !json_is_null(u)) - (v && !json_is_null(v));
        }
        if (c)
            return g_keys[i].desc ? -c : c;
    }
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static int parse_uint_arg(const d365_op *op, const char *name, long long *out, d365_resp *r)
{
    const char *v = d365_op_arg(op, name);
    if (!v)
        return 0;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || n < 0) {
        d365_error(r, 400, D365_T_ODATA, "Invalid value '%s' for %s query option found. The %s "
                   "query option requires a non-negative integer value.", v, name, name);
        return -1;
    }
    *out = n;
    return 1;
}

static char *next_link(d365_server *srv, const d365_op *op, const char *set, long long skip,
                       long long top_left)
{
    size_t cap = 256 + strlen(set);
    for (size_t i = 0; i < op->nargs; i++)
        cap += 3 * (strlen(op->args[i].name) + strlen(op->args[i].value)) + 2;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    int n = snprintf(buf, cap, "%s/data/%s?", srv->base_url, set);
    for (size_t i = 0; i < op->nargs; i++) {
        if (strcmp(op->args[i].name, "$skip") == 0 || strcmp(op->args[i].name, "$top") == 0)
            continue;
        char *k = sb_url_encode(op->args[i].name), *v = sb_url_encode(op->args[i].value);
        if (k && v)
            n += snprintf(buf + n, cap - (size_t)n, "%s=%s&", k, v);
        free(k);
        free(v);
    }
    if (top_left >= 0)
        n += snprintf(buf + n, cap - (size_t)n, "$top=%lld&", top_left);
    snprintf(buf + n, cap - (size_t)n, "$skip=%lld", skip);
    return buf;
}

static const char *query_area(const d365_op *op, const schema_type *t)
{
    if (!d365_has_prop(t, "dataAreaId"))
        return NULL;
    const char *cc = d365_op_arg(op, "cross-company");
    if (cc && strcasecmp(cc, "true") == 0)
        return NULL;
    return "usmf";
}

void d365_query_collection(d365_server *srv, const d365_op *op, const schema_type *t,
                           const char *set, bool count_only, d365_resp *r)
{
    read_opts o = { 0 };
    d365_filter *f = NULL;
    sort_key *keys = NULL;
    size_t nkeys = 0;
    sort_item *items = NULL;
    json_t *rows = NULL;
    long long top = -1, skip = 0;
    char msg[1024];

    for (size_t i = 0; i < op->nargs; i++) {
        const char *n = op->args[i].name;
        if (n[0] == '$' && strcmp(n, "$filter") && strcmp(n, "$select") && strcmp(n, "$top") &&
            strcmp(n, "$skip") && strcmp(n, "$orderby") && strcmp(n, "$count") &&
            strcmp(n, "$expand") && strcmp(n, "$format")) {
            d365_error(r, 400, D365_T_ODATA, "The query parameter '%s' is not supported.", n);
            goto out;
        }
    }
    if (parse_uint_arg(op, "$top", &top, r) < 0 || parse_uint_arg(op, "$skip", &skip, r) < 0)
        goto out;
    if (top < 0)
        top = -1;
    const char *ftext = d365_op_arg(op, "$filter");
    if (ftext) {
        f = d365_filter_parse(srv->sch, t, ftext, msg, sizeof msg);
        if (!f) {
            d365_error(r, 400, D365_T_ODATA, "%s", msg);
            goto out;
        }
    }
    if (parse_select(t, d365_op_arg(op, "$select"), &o, r) < 0 ||
        parse_expand(srv->sch, t, d365_op_arg(op, "$expand"), &o, r) < 0)
        goto out;
    const char *ob = d365_op_arg(op, "$orderby");
    if (ob && *ob) {
        char *copy = strdup(ob), *save = NULL;
        keys = calloc(t->nprops + 1, sizeof *keys);
        if (!copy || !keys) {
            free(copy);
            d365_error(r, 500, D365_T_ODATA, "out of memory");
            goto out;
        }
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            char name[128] = "", dir[16] = "";
            int got = sscanf(tok, " %127s %15s", name, dir);
            const schema_prop *p = got >= 1 ? schema_type_find_prop(t, name) : NULL;
            if (!p || (got == 2 && strcmp(dir, "asc") && strcmp(dir, "desc"))) {
                d365_error(r, 400, D365_T_ODATA, p ? "Syntax error in $orderby '%s'."
                           : "Could not find a property named '%s' on type in $orderby.",
                           p ? ob : name);
                free(copy);
                goto out;
            }
            if (nkeys < t->nprops && srv->opt.orderby) {
                keys[nkeys].prop = p;
                keys[nkeys].desc = got == 2 && strcmp(dir, "desc") == 0;
                keys[nkeys].defv = d365_prop_default(p);
                nkeys++;
            }
        }
        free(copy);
    }

    size_t page = srv->opt.page_size ? srv->opt.page_size : 10000;
    /* Prefer: odata.maxpagesize=N (standard OData; UNVERIFIED for F&O) can only shrink pages */
    const char *mp = op->prefer ? strstr(op->prefer, "odata.maxpagesize=") : NULL;
    if (mp) {
        long long want_page = strtoll(mp + 18, NULL, 10);
        if (want_page > 0 && (size_t)want_page < page)
            page = (size_t)want_page;
    }
    /* Without $filter the page is read straight from the store (rows in insertion order, or
     * sorted by SQLite for $orderby in exactly cmp_items' order: see d365_store_scan_ordered):
     * paging through a large set does not parse it whole, nor sort it in C, for every page. */
    bool window = !f;
    size_t base = 0, n = 0;
    const char *pf, *pv;
    if (window) {
        long long total_rows = d365_store_count(srv, set, query_area(op, t));
        size_t lim = page;
        if (top >= 0 && (size_t)top < lim)
            lim = (size_t)top;
        n = total_rows > 0 ? (size_t)total_rows : 0;
        base = (size_t)skip < n ? (size_t)skip : n;
        d365_order *ord = nkeys && !count_only ? calloc(nkeys, sizeof *ord) : NULL;
        for (size_t i = 0; ord && i < nkeys; i++)
            ord[i] = (d365_order){ keys[i].prop->name, keys[i].desc, keys[i].defv };
        rows = total_rows < 0 || (nkeys && !count_only && !ord) ? NULL
               : count_only ? json_array()
               : nkeys ? d365_store_scan_ordered(srv, set, query_area(op, t), ord, nkeys,
                                                 (long long)base, (long long)lim)
                       : d365_store_scan_range(srv, set, query_area(op, t), (long long)base,
                                               (long long)lim);
        free(ord);
    } else if (f && d365_filter_probe(f, &pf, &pv)) {
        rows = d365_store_find(srv, set, query_area(op, t), pf, pv);
    } else {
        rows = d365_store_scan(srv, set, query_area(op, t));
    }
    if (!rows) {
        d365_error(r, 500, D365_T_ODATA, "store error: %s", sqlite3_errmsg(srv->db));
        goto out;
    }
    size_t total = json_array_size(rows), nitems = 0;
    items = calloc(total + 1, sizeof *items);
    if (!items) {
        d365_error(r, 500, D365_T_ODATA, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < total; i++) {
        json_t *pair = json_array_get(rows, i);
        json_t *e = json_array_get(pair, 0);
        if (f && !d365_filter_match(f, e))
            continue;
        items[nitems].ent = e;
        items[nitems].ver = json_integer_value(json_array_get(pair, 1));
        items[nitems].idx = nitems;
        nitems++;
    }
    if (!window)
        n = nitems;
    if (count_only) {
        char buf[32];
        snprintf(buf, sizeof buf, "%zu", n);
        r->status = 200;
        r->text = strdup(buf);
        goto out;
    }
    if (nkeys && !window) {
        g_keys = keys;
        g_nkeys = nkeys;
        qsort(items, nitems, sizeof *items, cmp_items);
        g_keys = NULL;
        g_nkeys = 0;
    }
    size_t start = (size_t)skip < n ? (size_t)skip : n;
    size_t want = n - start;
    if (top >= 0 && (size_t)top < want)
        want = (size_t)top;
    size_t emit = want < page ? want : page;
    if (window && emit > nitems) /* rows vanished between the count and the read */
        emit = nitems;
    tbuf b = { 0 };
    json_t *ctx = context(srv, set, &o, false);
    tb_puts(&b, "{\"@odata.context\":");
    tb_str(&b, ctx ? json_string_value(ctx) : "");
    json_decref(ctx);
    if (d365_op_arg(op, "$count") && strcasecmp(d365_op_arg(op, "$count"), "true") == 0) {
        char cnt[48];
        snprintf(cnt, sizeof cnt, ",\"@odata.count\":%zu", n);
        tb_puts(&b, cnt);
    }
    tb_puts(&b, ",\"value\":[");
    for (size_t i = start; i < start + emit; i++) {
        if (i > start)
            tb_puts(&b, ",");
        render_text(&b, srv, t, items[i - base].ent, items[i - base].ver, &o);
    }
    tb_puts(&b, "]");
    if (emit < want) {
        char *nl = next_link(srv, op, set, (long long)(start + emit),
                             top >= 0 ? (long long)(want - emit) : -1);
        if (nl) {
            tb_puts(&b, ",\"@odata.nextLink\":");
            tb_str(&b, nl);
        }
        free(nl);
    }
    tb_puts(&b, "}");
    if (b.oom) {
        free(b.p);
        d365_error(r, 500, D365_T_ODATA, "out of memory");
        goto out;
    }
    r->status = 200;
    r->text = b.p;
    r->text_is_json = true;
out:
    free(items);
    json_decref(rows);
    for (size_t i = 0; keys && i < nkeys; i++)
        json_decref(keys[i].defv);
    free(keys);
    d365_filter_free(f);
    read_opts_free(&o);
}

void d365_query_entity(d365_server *srv, const d365_op *op, const schema_type *t,
                       const char *set, json_t *ent, long long ver, d365_resp *r)
{
    read_opts o = { 0 };
    if (parse_select(t, d365_op_arg(op, "$select"), &o, r) < 0 ||
        parse_expand(srv->sch, t, d365_op_arg(op, "$expand"), &o, r) < 0) {
        read_opts_free(&o);
        return;
    }
    json_t *body = render(srv, t, ent, ver, &o);
    json_t *doc = json_object();
    json_object_set_new(doc, "@odata.context", context(srv, set, &o, true));
    json_object_update(doc, body);
    json_decref(body);
    snprintf(r->etag, sizeof r->etag, "%s", d365_str(doc, "@odata.etag"));
    r->status = 200;
    r->json = doc;
    read_opts_free(&o);
}

void d365_query_nav(d365_server *srv, const d365_op *op, const schema_type *t, const json_t *ent,
                    const char *nav, d365_resp *r)
{
    (void)op;
    const schema_nav *nv = schema_type_find_nav(t, nav);
    const schema_type *tt = nv ? schema_find_type(srv->sch, nv->target) : NULL;
    const char *tset = nv ? schema_set_for_type(srv->sch, nv->target) : NULL;
    if (!nv || !tt || !tset) {
        d365_error(r, 404, D365_T_ODATA, "Resource not found for the segment '%s'.", nav);
        return;
    }
    json_t *v = expand_nav(srv, t, ent, nv, NULL);
    read_opts none = { 0 };
    if (nv->collection) {
        json_t *doc = json_object();
        json_object_set_new(doc, "@odata.context", context(srv, tset, &none, false));
        json_object_set_new(doc, "value", v);
        r->status = 200;
        r->json = doc;
    } else if (json_is_object(v)) {
        json_t *doc = json_object();
        json_object_set_new(doc, "@odata.context", context(srv, tset, &none, true));
        json_object_update(doc, v);
        json_decref(v);
        r->status = 200;
        r->json = doc;
    } else {
        json_decref(v);
        r->status = 204;
    }
}
