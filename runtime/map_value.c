/* map_value.c - values of the .map language at run time (syncrt_mv, see syncrt/map.h):
 * constructors, field access through descriptors, list projection and indexing, operators
 * with the language's absent-value rules, stores into target structs, and table lookups. */
#include "syncrt/map.h"

#include <stdlib.h>
#include <string.h>

syncrt_mv syncrt_mv_absent(void)
{
    syncrt_mv v;
    memset(&v, 0, sizeof v);
    return v;
}

syncrt_mv syncrt_mv_null(void)
{
    syncrt_mv v = syncrt_mv_absent();
    v.kind = SYNCRT_MV_NULL;
    return v;
}

syncrt_mv syncrt_mv_str(const char *p, size_t n)
{
    syncrt_mv v = syncrt_mv_absent();
    v.kind = SYNCRT_MV_STRING;
    v.u.s.p = p;
    v.u.s.n = n;
    return v;
}

syncrt_mv syncrt_mv_int(int64_t i)
{
    syncrt_mv v = syncrt_mv_absent();
    v.kind = SYNCRT_MV_INT;
    v.u.i = i;
    return v;
}

syncrt_mv syncrt_mv_bool(int b)
{
    syncrt_mv v = syncrt_mv_absent();
    v.kind = SYNCRT_MV_BOOL;
    v.u.b = b != 0;
    return v;
}

static syncrt_mv mv_dec(syncrt_decimal d)
{
    syncrt_mv v = syncrt_mv_absent();
    v.kind = SYNCRT_MV_DECIMAL;
    v.u.d = d;
    return v;
}

syncrt_mv syncrt_mv_dec_text(syncrt_mctx *c, const char *text)
{
    syncrt_decimal d;
    if (syncrt_decimal_parse(&d, text, strlen(text)) != SYNCRT_OK) {
        syncrt_mctx_error(c, "", "bad decimal literal %s", text);
        return syncrt_mv_absent();
    }
    return mv_dec(d);
}

syncrt_mv syncrt_mv_date_text(syncrt_mctx *c, const char *text)
{
    syncrt_datetime dt;
    syncrt_date d;
    bool donly;
    if (!syncrt_parse_iso(text, strlen(text), &dt, &d, &donly)) {
        syncrt_mctx_error(c, "", "bad date literal %s", text);
        return syncrt_mv_absent();
    }
    syncrt_mv v = syncrt_mv_absent();
    v.kind = SYNCRT_MV_DATE;
    v.u.date = d;
    return v;
}

syncrt_mv syncrt_mv_datetime_text(syncrt_mctx *c, const char *text)
{
    syncrt_datetime dt;
    syncrt_date d;
    bool donly;
    if (!syncrt_parse_iso(text, strlen(text), &dt, &d, &donly)) {
        syncrt_mctx_error(c, "", "bad datetime literal %s", text);
        return syncrt_mv_absent();
    }
    syncrt_mv v = syncrt_mv_absent();
    v.kind = SYNCRT_MV_DATETIME;
    v.u.dt = donly ? dt + 12 * 3600000 : dt;
    return v;
}

syncrt_mv syncrt_mv_obj(const void *p, const syncrt_mtype *t)
{
    syncrt_mv v = syncrt_mv_absent();
    if (!p)
        return v;
    v.kind = SYNCRT_MV_OBJECT;
    v.u.o.p = p;
    v.u.o.t = t;
    return v;
}

int syncrt_mv_present(syncrt_mv v) { return v.kind != SYNCRT_MV_ABSENT && v.kind != SYNCRT_MV_NULL; }
int syncrt_mv_true(syncrt_mv v) { return v.kind == SYNCRT_MV_BOOL && v.u.b; }

/* The value of field f stored at base (presence already checked). */
static syncrt_mv load(const syncrt_mfield *f, const char *base)
{
    syncrt_mv v = syncrt_mv_absent();
    const void *p = base + f->offset;
    switch (f->kind) {
    case SYNCRT_MK_STRING:
    case SYNCRT_MK_ENUM:
    case SYNCRT_MK_ANY: v.kind = SYNCRT_MV_STRING; v.u.s = *(const syncrt_str *)p; break;
    case SYNCRT_MK_INT: v.kind = SYNCRT_MV_INT; v.u.i = *(const int64_t *)p; break;
    case SYNCRT_MK_DECIMAL: v.kind = SYNCRT_MV_DECIMAL; v.u.d = *(const syncrt_decimal *)p; break;
    case SYNCRT_MK_BOOL: v.kind = SYNCRT_MV_BOOL; v.u.b = *(const unsigned char *)p; break;
    case SYNCRT_MK_DATE: v.kind = SYNCRT_MV_DATE; v.u.date = *(const syncrt_date *)p; break;
    case SYNCRT_MK_DATETIME: v.kind = SYNCRT_MV_DATETIME; v.u.dt = *(const syncrt_datetime *)p; break;
    case SYNCRT_MK_OBJECT: return syncrt_mv_obj(*(void *const *)p, f->object);
    case SYNCRT_MK_LIST:
        v.kind = SYNCRT_MV_LIST;
        v.u.l.items = ((const syncrt_list *)p)->items;
        v.u.l.n = ((const syncrt_list *)p)->n;
        v.u.l.t = f->elem_kind == SYNCRT_MK_OBJECT ? f->object : NULL;
        break;
    }
    return v;
}

syncrt_mv syncrt_mv_get(syncrt_mctx *c, syncrt_mv obj, size_t field)
{
    (void)c;
    if (obj.kind != SYNCRT_MV_OBJECT || field >= obj.u.o.t->nfields)
        return syncrt_mv_absent();
    const syncrt_mfield *f = &obj.u.o.t->fields[field];
    const char *base = obj.u.o.p;
    if (base[f->has_offset] != SYNCRT_PRESENT)
        return syncrt_mv_absent();
    return load(f, base);
}

/* The i-th element of a list as a value. */
static syncrt_mv element(syncrt_mv list, size_t i)
{
    if (list.u.l.t)
        return syncrt_mv_obj((const char *)list.u.l.items + i * list.u.l.t->size, list.u.l.t);
    return ((const syncrt_mv *)list.u.l.items)[i];
}

syncrt_mv syncrt_mv_project(syncrt_mctx *c, syncrt_mv list, size_t field)
{
    /* a list of structs, or of object values (a projection of a projection:
     * o.SalesOrderPayments.Slave.Authorized); an element that is not an object gives absent */
    if (list.kind != SYNCRT_MV_LIST)
        return syncrt_mv_absent();
    syncrt_mv *out = syncrt_mctx_alloc(c, (list.u.l.n ? list.u.l.n : 1) * sizeof *out);
    if (!out)
        return syncrt_mv_absent();
    for (size_t i = 0; i < list.u.l.n; i++)
        out[i] = syncrt_mv_get(c, element(list, i), field);
    syncrt_mv v = syncrt_mv_absent();
    v.kind = SYNCRT_MV_LIST;
    v.u.l.items = out;
    v.u.l.n = list.u.l.n;
    return v;
}

syncrt_mv syncrt_mv_index(syncrt_mctx *c, syncrt_mv list, syncrt_mv index)
{
    (void)c;
    if (list.kind != SYNCRT_MV_LIST || index.kind != SYNCRT_MV_INT || index.u.i < 0 ||
        (uint64_t)index.u.i >= list.u.l.n)
        return syncrt_mv_absent();
    return element(list, (size_t)index.u.i);
}

/* ---- operators ---- */

static syncrt_mv overflow(syncrt_mctx *c, const char *what)
{
    syncrt_mctx_error(c, "", "%s: the result does not fit %d digits", what, SYNCRT_DECIMAL_DIGITS);
    return syncrt_mv_absent();
}

static bool as_dec(syncrt_mv v, syncrt_decimal *d)
{
    if (v.kind == SYNCRT_MV_DECIMAL) { *d = v.u.d; return true; }
    if (v.kind == SYNCRT_MV_INT) { *d = syncrt_decimal_from_int(v.u.i); return true; }
    return false;
}

syncrt_mv syncrt_mv_unop(syncrt_mctx *c, int op, syncrt_mv a)
{
    if (op == SYNCRT_OP_NOT)
        return syncrt_mv_bool(!syncrt_mv_true(a));
    if (a.kind == SYNCRT_MV_INT) {
        if (a.u.i == INT64_MIN) {
            syncrt_decimal d = syncrt_decimal_from_int(a.u.i);
            d.neg = 0;
            return mv_dec(d);
        }
        return syncrt_mv_int(-a.u.i);
    }
    if (a.kind == SYNCRT_MV_DECIMAL) {
        if (!syncrt_decimal_is_zero(&a.u.d))
            a.u.d.neg ^= 1;
        return a;
    }
    (void)c;
    return syncrt_mv_absent();
}

static syncrt_datetime as_ms(syncrt_mv v)
{
    return v.kind == SYNCRT_MV_DATE ? (int64_t)v.u.date * 86400000 : v.u.dt;
}

/* -2: not comparable */
static int compare(syncrt_mv a, syncrt_mv b)
{
    syncrt_decimal da, db;
    if (as_dec(a, &da) && as_dec(b, &db)) {
        if (a.kind == SYNCRT_MV_INT && b.kind == SYNCRT_MV_INT)
            return a.u.i < b.u.i ? -1 : a.u.i > b.u.i;
        return syncrt_decimal_cmp(&da, &db);
    }
    if (a.kind == SYNCRT_MV_STRING && b.kind == SYNCRT_MV_STRING) {
        size_t n = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
        int r = n ? memcmp(a.u.s.p, b.u.s.p, n) : 0;
        if (r)
            return r < 0 ? -1 : 1;
        return a.u.s.n < b.u.s.n ? -1 : a.u.s.n > b.u.s.n;
    }
    if ((a.kind == SYNCRT_MV_DATE || a.kind == SYNCRT_MV_DATETIME) &&
        (b.kind == SYNCRT_MV_DATE || b.kind == SYNCRT_MV_DATETIME)) {
        if (a.kind == SYNCRT_MV_DATE && b.kind == SYNCRT_MV_DATE)
            return a.u.date < b.u.date ? -1 : a.u.date > b.u.date;
        syncrt_datetime x = as_ms(a), y = as_ms(b);
        return x < y ? -1 : x > y;
    }
    if (a.kind == SYNCRT_MV_BOOL && b.kind == SYNCRT_MV_BOOL)
        return a.u.b < b.u.b ? -1 : a.u.b > b.u.b;
    return -2;
}

int syncrt_mv_equal(syncrt_mv a, syncrt_mv b)
{
    bool pa = syncrt_mv_present(a), pb = syncrt_mv_present(b);
    if (!pa || !pb)
        return pa == pb;
    return compare(a, b) == 0;
}

static syncrt_mv concat2(syncrt_mctx *c, syncrt_mv a, syncrt_mv b)
{
    syncrt_mv args[2] = {a, b};
    return syncrt_fn_concat(c, 2, args);
}

syncrt_mv syncrt_mv_binop(syncrt_mctx *c, int op, syncrt_mv a, syncrt_mv b)
{
    switch (op) {
    case SYNCRT_OP_CONCAT:
        return concat2(c, a, b);
    case SYNCRT_OP_EQ:
        return syncrt_mv_bool(syncrt_mv_equal(a, b));
    case SYNCRT_OP_NE:
        return syncrt_mv_bool(!syncrt_mv_equal(a, b));
    case SYNCRT_OP_LT:
    case SYNCRT_OP_LE:
    case SYNCRT_OP_GT:
    case SYNCRT_OP_GE: {
        if (!syncrt_mv_present(a) || !syncrt_mv_present(b))
            return syncrt_mv_bool(0);
        int r = compare(a, b);
        if (r == -2)
            return syncrt_mv_bool(0);
        return syncrt_mv_bool(op == SYNCRT_OP_LT ? r < 0 : op == SYNCRT_OP_LE ? r <= 0
                              : op == SYNCRT_OP_GT ? r > 0 : r >= 0);
    }
    default:
        break;
    }
    /* arithmetic */
    if (!syncrt_mv_present(a) || !syncrt_mv_present(b))
        return syncrt_mv_absent();
    if (a.kind == SYNCRT_MV_INT && b.kind == SYNCRT_MV_INT && op != SYNCRT_OP_DIV) {
        int64_t r;
        bool ovf = op == SYNCRT_OP_ADD ? __builtin_add_overflow(a.u.i, b.u.i, &r)
                 : op == SYNCRT_OP_SUB ? __builtin_sub_overflow(a.u.i, b.u.i, &r)
                                       : __builtin_mul_overflow(a.u.i, b.u.i, &r);
        if (!ovf)
            return syncrt_mv_int(r);
        return overflow(c, "integer arithmetic");
    }
    syncrt_decimal da, db, r;
    if (!as_dec(a, &da) || !as_dec(b, &db))
        return syncrt_mv_absent();
    syncrt_status st;
    switch (op) {
    case SYNCRT_OP_ADD: st = syncrt_decimal_add(&r, &da, &db); break;
    case SYNCRT_OP_SUB: st = syncrt_decimal_sub(&r, &da, &db); break;
    case SYNCRT_OP_MUL: st = syncrt_decimal_mul(&r, &da, &db); break;
    default:
        st = syncrt_decimal_div(&r, &da, &db);
        if (st == SYNCRT_EINVAL) {
            syncrt_mctx_error(c, "", "division by zero");
            return syncrt_mv_absent();
        }
    }
    if (st != SYNCRT_OK)
        return overflow(c, "decimal arithmetic");
    return mv_dec(r);
}

/* ---- stores ---- */

static void store(syncrt_mctx *c, const syncrt_mfield *f, char *base, syncrt_mv v)
{
    void *p = base + f->offset;
    unsigned char *has = (unsigned char *)base + f->has_offset;
    if (v.kind == SYNCRT_MV_ABSENT)
        return;
    if (v.kind == SYNCRT_MV_NULL) {
        *has = SYNCRT_NULL;
        return;
    }
    if (v.kind == SYNCRT_MV_REF) {
        /* the checker lets a ref feed only integer and string fields: both slots hold a
         * pointer */
        if (f->kind != SYNCRT_MK_INT && f->kind != SYNCRT_MK_STRING) {
            syncrt_mctx_error(c, f->name, "a ref cannot fill this field");
            return;
        }
        memcpy(p, &v.u.s.p, sizeof v.u.s.p);
        *has = SYNCRT_REF;
        return;
    }
    switch (f->kind) {
    case SYNCRT_MK_STRING:
    case SYNCRT_MK_ENUM:
    case SYNCRT_MK_ANY:
        if (v.kind != SYNCRT_MV_STRING)
            v = syncrt_fn_text(c, v);
        if (v.kind != SYNCRT_MV_STRING)
            return;
        *(syncrt_str *)p = v.u.s;
        break;
    case SYNCRT_MK_INT:
        if (v.kind == SYNCRT_MV_INT) {
            *(int64_t *)p = v.u.i;
        } else if (v.kind == SYNCRT_MV_DECIMAL) {
            if (syncrt_decimal_to_int((int64_t *)p, &v.u.d) != SYNCRT_OK) {
                syncrt_mctx_error(c, f->name, "does not fit a 64-bit integer");
                return;
            }
        } else {
            return;
        }
        break;
    case SYNCRT_MK_DECIMAL:
        if (!as_dec(v, (syncrt_decimal *)p))
            return;
        break;
    case SYNCRT_MK_BOOL:
        if (v.kind != SYNCRT_MV_BOOL)
            return;
        *(unsigned char *)p = (unsigned char)v.u.b;
        break;
    case SYNCRT_MK_DATE:
        if (v.kind == SYNCRT_MV_DATE)
            *(syncrt_date *)p = v.u.date;
        else if (v.kind == SYNCRT_MV_DATETIME)
            *(syncrt_date *)p = (syncrt_date)(v.u.dt >= 0 ? v.u.dt / 86400000 : -((-v.u.dt + 86399999) / 86400000));
        else
            return;
        break;
    case SYNCRT_MK_DATETIME:
        if (v.kind == SYNCRT_MV_DATETIME)
            *(syncrt_datetime *)p = v.u.dt;
        else if (v.kind == SYNCRT_MV_DATE)
            *(syncrt_datetime *)p = (int64_t)v.u.date * 86400000 + 12 * 3600000;
        else
            return;
        break;
    case SYNCRT_MK_OBJECT:
        if (v.kind != SYNCRT_MV_OBJECT || v.u.o.t != f->object)
            return;
        *(const void **)p = v.u.o.p;
        break;
    case SYNCRT_MK_LIST:
        if (v.kind != SYNCRT_MV_LIST)
            return;
        if (f->elem_kind == SYNCRT_MK_OBJECT) {
            if (v.u.l.t != f->object)
                return;
            ((syncrt_list *)p)->items = (void *)(uintptr_t)v.u.l.items;
            ((syncrt_list *)p)->n = v.u.l.n;
        } else {
            if (v.u.l.t)
                return;
            ((syncrt_list *)p)->items = (void *)(uintptr_t)v.u.l.items;
            ((syncrt_list *)p)->n = v.u.l.n;
        }
        break;
    }
    *has = SYNCRT_PRESENT;
}

void syncrt_mv_put(syncrt_mctx *c, const syncrt_mtype *t, void *obj, const size_t *path,
                   size_t depth, syncrt_mv v)
{
    char *base = obj;
    while (depth > 1) {
        const syncrt_mfield *f = &t->fields[path[0]];
        if (v.kind == SYNCRT_MV_ABSENT)
            return;
        void **slot = (void **)(void *)(base + f->offset);
        if (!*slot || base[f->has_offset] != SYNCRT_PRESENT) {
            *slot = syncrt_mctx_alloc(c, f->object->size);
            if (!*slot)
                return;
            base[f->has_offset] = SYNCRT_PRESENT;
        }
        t = f->object;
        base = *slot;
        path++;
        depth--;
    }
    store(c, &t->fields[path[0]], base, v);
}

/* ---- tables ---- */

static int key_cmp(const char *k, syncrt_str s)
{
    size_t kl = strlen(k);
    size_t n = kl < s.n ? kl : s.n;
    int r = n ? memcmp(k, s.p, n) : 0;
    if (r)
        return r;
    return kl < s.n ? -1 : kl > s.n;
}

syncrt_mv syncrt_mv_lookup(syncrt_mctx *c, const syncrt_mtable *t, syncrt_mv key)
{
    if (key.kind != SYNCRT_MV_STRING)
        return syncrt_mv_absent();
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = key_cmp(t->entries[mid].key, key.u.s);
        if (r == 0) {
            const char *v = t->entries[mid].value;
            switch (t->value_kind) {
            case SYNCRT_MV_INT: return syncrt_mv_int(strtoll(v, NULL, 10));
            case SYNCRT_MV_DECIMAL: return syncrt_mv_dec_text(c, v);
            case SYNCRT_MV_BOOL: return syncrt_mv_bool(!strcmp(v, "true"));
            case SYNCRT_MV_DATE: return syncrt_mv_date_text(c, v);
            case SYNCRT_MV_DATETIME: return syncrt_mv_datetime_text(c, v);
            default: return syncrt_mv_str(v, strlen(v));
            }
        }
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return syncrt_mv_absent();
}
