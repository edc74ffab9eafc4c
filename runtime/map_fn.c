/* map_fn.c - the transformation library of the .map language at run time: one syncrt_fn_*
 * per builtin of compiler/builtins.c (semantics in specs/language.md, "Builtins").  A builtin
 * whose argument is absent returns absent (unless the reference says it never is); problems
 * that make a record invalid (number("abc"), a date that does not parse, required() of an
 * absent value) are recorded in the context. */
#include "syncrt/map.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static char *buf(syncrt_mctx *c, size_t n) { return syncrt_mctx_alloc(c, n + 1); }

static syncrt_mv absent(void) { return syncrt_mv_absent(); }

/* ---- text ---- */

static syncrt_mv recase(syncrt_mctx *c, syncrt_mv s, bool up)
{
    if (s.kind != SYNCRT_MV_STRING)
        return absent();
    char *o = buf(c, s.u.s.n);
    if (!o)
        return absent();
    const unsigned char *p = (const unsigned char *)s.u.s.p;
    for (size_t i = 0; i < s.u.s.n; i++) {
        unsigned char ch = p[i];
        if (up && ch >= 'a' && ch <= 'z')
            ch = (unsigned char)(ch - 32);
        else if (!up && ch >= 'A' && ch <= 'Z')
            ch = (unsigned char)(ch + 32);
        else if (ch == 0xC3 && i + 1 < s.u.s.n) {
            /* Latin-1 letters U+00C0..U+00DE <-> U+00E0..U+00FE, except the signs x and / */
            unsigned char n2 = p[i + 1];
            if (up && n2 >= 0xA0 && n2 <= 0xBE && n2 != 0xB7)
                n2 = (unsigned char)(n2 - 0x20);
            else if (!up && n2 >= 0x80 && n2 <= 0x9E && n2 != 0x97)
                n2 = (unsigned char)(n2 + 0x20);
            o[i] = (char)ch;
            o[++i] = (char)n2;
            continue;
        }
        o[i] = (char)ch;
    }
    return syncrt_mv_str(o, s.u.s.n);
}

syncrt_mv syncrt_fn_upper(syncrt_mctx *c, syncrt_mv s) { return recase(c, s, true); }
syncrt_mv syncrt_fn_lower(syncrt_mctx *c, syncrt_mv s) { return recase(c, s, false); }

static bool is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v'; }

syncrt_mv syncrt_fn_trim(syncrt_mctx *c, syncrt_mv s)
{
    (void)c;
    if (s.kind != SYNCRT_MV_STRING)
        return absent();
    const char *p = s.u.s.p;
    size_t n = s.u.s.n;
    while (n && is_space(*p)) { p++; n--; }
    while (n && is_space(p[n - 1])) n--;
    return syncrt_mv_str(p, n);
}

/* Byte offset of character k (clamped to the end). */
static size_t char_offset(syncrt_str s, int64_t k)
{
    size_t i = 0;
    while (i < s.n && k > 0) {
        i++;
        while (i < s.n && ((unsigned char)s.p[i] & 0xC0) == 0x80)
            i++;
        k--;
    }
    return i;
}

syncrt_mv syncrt_fn_substr(syncrt_mctx *c, syncrt_mv s, syncrt_mv start, syncrt_mv len)
{
    (void)c;
    if (s.kind != SYNCRT_MV_STRING || start.kind != SYNCRT_MV_INT)
        return absent();
    int64_t st = start.u.i < 0 ? 0 : start.u.i;
    size_t b = char_offset(s.u.s, st);
    size_t e = s.u.s.n;
    if (len.kind == SYNCRT_MV_INT) {
        syncrt_str rest = {s.u.s.p + b, s.u.s.n - b};
        e = b + char_offset(rest, len.u.i < 0 ? 0 : len.u.i);
    } else if (len.kind != SYNCRT_MV_ABSENT) {
        return absent();
    }
    return syncrt_mv_str(s.u.s.p + b, e - b);
}

syncrt_mv syncrt_fn_replace(syncrt_mctx *c, syncrt_mv s, syncrt_mv from, syncrt_mv to)
{
    if (s.kind != SYNCRT_MV_STRING || from.kind != SYNCRT_MV_STRING || to.kind != SYNCRT_MV_STRING)
        return absent();
    if (from.u.s.n == 0 || from.u.s.n > s.u.s.n)
        return s;
    size_t count = 0;
    for (size_t i = 0; i + from.u.s.n <= s.u.s.n;)
        if (!memcmp(s.u.s.p + i, from.u.s.p, from.u.s.n)) { count++; i += from.u.s.n; } else i++;
    if (!count)
        return s;
    size_t n = s.u.s.n - count * from.u.s.n + count * to.u.s.n;
    char *o = buf(c, n);
    if (!o)
        return absent();
    size_t k = 0;
    for (size_t i = 0; i < s.u.s.n;) {
        if (i + from.u.s.n <= s.u.s.n && !memcmp(s.u.s.p + i, from.u.s.p, from.u.s.n)) {
            memcpy(o + k, to.u.s.p, to.u.s.n);
            k += to.u.s.n;
            i += from.u.s.n;
        } else {
            o[k++] = s.u.s.p[i++];
        }
    }
    return syncrt_mv_str(o, n);
}

syncrt_mv syncrt_fn_concat(syncrt_mctx *c, size_t n, const syncrt_mv *args)
{
    size_t total = 0;
    syncrt_mv *texts = syncrt_mctx_alloc(c, (n ? n : 1) * sizeof *texts);
    if (!texts)
        return absent();
    for (size_t i = 0; i < n; i++) {
        texts[i] = args[i].kind == SYNCRT_MV_STRING ? args[i] : syncrt_fn_text(c, args[i]);
        if (texts[i].kind == SYNCRT_MV_STRING)
            total += texts[i].u.s.n;
    }
    char *o = buf(c, total);
    if (!o)
        return absent();
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (texts[i].kind == SYNCRT_MV_STRING && texts[i].u.s.n) {
            memcpy(o + k, texts[i].u.s.p, texts[i].u.s.n);
            k += texts[i].u.s.n;
        }
    return syncrt_mv_str(o, total);
}

syncrt_mv syncrt_fn_join(syncrt_mctx *c, syncrt_mv list, syncrt_mv sep)
{
    if (list.kind != SYNCRT_MV_LIST || list.u.l.t)
        return syncrt_mv_str("", 0);
    const syncrt_mv *items = list.u.l.items;
    size_t cnt = 0;
    for (size_t i = 0; i < list.u.l.n; i++)
        if (items[i].kind == SYNCRT_MV_STRING)
            cnt++;
    syncrt_mv *args = syncrt_mctx_alloc(c, (cnt * 2 + 1) * sizeof *args);
    if (!args)
        return absent();
    size_t k = 0;
    for (size_t i = 0; i < list.u.l.n; i++) {
        if (items[i].kind != SYNCRT_MV_STRING)
            continue;     /* absent elements are skipped */
        if (k)
            args[k++] = sep;
        args[k++] = items[i];
    }
    return syncrt_fn_concat(c, k, args);
}

syncrt_mv syncrt_fn_text(syncrt_mctx *c, syncrt_mv x)
{
    char t[64];
    size_t n;
    switch (x.kind) {
    case SYNCRT_MV_STRING: return x;
    case SYNCRT_MV_INT: n = (size_t)snprintf(t, sizeof t, "%lld", (long long)x.u.i); break;
    case SYNCRT_MV_DECIMAL: n = syncrt_decimal_format(&x.u.d, t, sizeof t); break;
    case SYNCRT_MV_BOOL: return x.u.b ? syncrt_mv_str("true", 4) : syncrt_mv_str("false", 5);
    case SYNCRT_MV_DATE: n = syncrt_format_date(x.u.date, t); break;
    case SYNCRT_MV_DATETIME: n = syncrt_format_datetime(x.u.dt, t); break;
    default: return absent();
    }
    char *o = buf(c, n);
    if (!o)
        return absent();
    memcpy(o, t, n);
    return syncrt_mv_str(o, n);
}

/* ---- numbers ---- */

syncrt_mv syncrt_fn_number(syncrt_mctx *c, syncrt_mv s, const char *what)
{
    if (s.kind == SYNCRT_MV_DECIMAL)
        return s;
    if (s.kind == SYNCRT_MV_INT) {
        syncrt_mv v = absent();
        v.kind = SYNCRT_MV_DECIMAL;
        v.u.d = syncrt_decimal_from_int(s.u.i);
        return v;
    }
    if (s.kind != SYNCRT_MV_STRING)
        return absent();
    syncrt_mv t = syncrt_fn_trim(c, s);
    syncrt_mv v = absent();
    v.kind = SYNCRT_MV_DECIMAL;
    if (syncrt_decimal_parse(&v.u.d, t.u.s.p, t.u.s.n) != SYNCRT_OK) {
        syncrt_mctx_error(c, what, "\"%.*s\" is not a number", (int)(s.u.s.n > 40 ? 40 : s.u.s.n),
                          s.u.s.p);
        return absent();
    }
    return v;
}

syncrt_mv syncrt_fn_round(syncrt_mctx *c, syncrt_mv x, int places, int trunc)
{
    if (x.kind == SYNCRT_MV_INT)
        return places < 0 ? x : syncrt_fn_number(c, x, "");
    if (x.kind != SYNCRT_MV_DECIMAL)
        return absent();
    syncrt_decimal r;
    if (syncrt_decimal_round(&r, &x.u.d, places < 0 ? 0 : places, trunc != 0) != SYNCRT_OK)
        return absent();
    if (places >= 0) {
        x.u.d = r;
        return x;
    }
    int64_t i;
    if (syncrt_decimal_to_int(&i, &r) != SYNCRT_OK) {
        syncrt_mctx_error(c, "", "round/trunc: the result does not fit a 64-bit integer");
        return absent();
    }
    return syncrt_mv_int(i);
}

/* ---- dates ---- */

/* Next token of a date pattern: returns its length; *lit tells literal text (quoted or not a
 * letter), else p[0] repeated n times is a field. */
static size_t pattern_token(const char *p, bool *lit, const char **text, size_t *tn)
{
    if (*p == '\'') {
        const char *q = strchr(p + 1, '\'');
        if (!q)
            q = p + strlen(p);
        *lit = true;
        *text = p + 1;
        *tn = (size_t)(q - p - 1);
        return (size_t)(q - p) + (*q ? 1 : 0);
    }
    if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) {
        size_t n = 1;
        while (p[n] == p[0])
            n++;
        *lit = false;
        *text = p;
        *tn = n;
        return n;
    }
    *lit = true;
    *text = p;
    *tn = 1;
    return 1;
}

/* Parse s with pattern: fills the fields; false when it does not match. */
static bool parse_pattern(const char *pat, syncrt_str s, syncrt_datetime *out, syncrt_date *day)
{
    int y = 1970, mo = 1, d = 1, h = 0, mi = 0, sec = 0, ms = 0, off = 0;
    size_t i = 0;
    while (*pat) {
        bool lit;
        const char *t;
        size_t tn;
        pat += pattern_token(pat, &lit, &t, &tn);
        if (lit) {
            if (i + tn > s.n || memcmp(s.p + i, t, tn))
                return false;
            i += tn;
            continue;
        }
        if (*t == 'X') {
            if (i < s.n && s.p[i] == 'Z') { i++; continue; }
            if (i + 3 > s.n || (s.p[i] != '+' && s.p[i] != '-'))
                return false;
            int sign = s.p[i] == '-' ? -1 : 1, oh, om = 0;
            i++;
            if (i + 2 > s.n) return false;
            oh = (s.p[i] - '0') * 10 + (s.p[i + 1] - '0');
            i += 2;
            if (i < s.n && s.p[i] == ':') i++;
            if (i + 2 <= s.n && s.p[i] >= '0' && s.p[i] <= '9') {
                om = (s.p[i] - '0') * 10 + (s.p[i + 1] - '0');
                i += 2;
            }
            off = sign * (oh * 60 + om);
            continue;
        }
        /* numeric field: fixed width when repeated, else 1-2 digits */
        size_t maxw = tn == 1 ? 2 : tn;
        if (*t == 'y' && tn == 4) maxw = 4;
        size_t w = 0;
        int v = 0;
        while (w < maxw && i + w < s.n && s.p[i + w] >= '0' && s.p[i + w] <= '9') {
            v = v * 10 + (s.p[i + w] - '0');
            w++;
        }
        if (w == 0 || (tn > 1 && w != tn && !(*t == 'y' && tn == 2 && w == 2)))
            return false;
        i += w;
        switch (*t) {
        case 'y': y = tn == 2 ? 2000 + v : v; break;
        case 'M': mo = v; break;
        case 'd': d = v; break;
        case 'H': h = v; break;
        case 'm': mi = v; break;
        case 's': sec = v; break;
        case 'S': ms = v; break;
        default: return false;
        }
    }
    if (i != s.n || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return false;
    syncrt_date dd = syncrt_date_from_ymd(y, mo, d);
    int yy, mm, ddd;
    syncrt_date_to_ymd(dd, &yy, &mm, &ddd);
    if (yy != y || mm != mo || ddd != d)
        return false;   /* 31 April */
    *day = dd;
    *out = ((int64_t)dd * 86400 + h * 3600 + mi * 60 + sec - off * 60) * 1000 + ms;
    return true;
}

static bool parse_date_arg(syncrt_mctx *c, syncrt_mv x, const char *pattern, const char *what,
                           syncrt_datetime *dt, syncrt_date *d, bool *date_only)
{
    bool ok;
    *date_only = false;
    if (pattern) {
        ok = parse_pattern(pattern, x.u.s, dt, d);
        *date_only = !strchr(pattern, 'H');
    } else {
        syncrt_mv t = syncrt_fn_trim(c, x);
        ok = syncrt_parse_iso(t.u.s.p, t.u.s.n, dt, d, date_only);
    }
    if (!ok)
        syncrt_mctx_error(c, what, "\"%.*s\" is not a date%s%s", (int)(x.u.s.n > 40 ? 40 : x.u.s.n),
                          x.u.s.p, pattern ? " in the pattern " : " (ISO-8601)", pattern ? pattern : "");
    return ok;
}

syncrt_mv syncrt_fn_date(syncrt_mctx *c, syncrt_mv x, const char *pattern, const char *what)
{
    syncrt_mv v = absent();
    v.kind = SYNCRT_MV_DATE;
    if (x.kind == SYNCRT_MV_DATE)
        return x;
    if (x.kind == SYNCRT_MV_DATETIME) {
        v.u.date = (syncrt_date)(x.u.dt >= 0 ? x.u.dt / 86400000 : -((-x.u.dt + 86399999) / 86400000));
        return v;
    }
    if (x.kind != SYNCRT_MV_STRING)
        return absent();
    syncrt_datetime dt;
    bool donly;
    if (!parse_date_arg(c, x, pattern, what, &dt, &v.u.date, &donly))
        return absent();
    return v;
}

syncrt_mv syncrt_fn_datetime(syncrt_mctx *c, syncrt_mv x, const char *pattern, const char *what)
{
    syncrt_mv v = absent();
    v.kind = SYNCRT_MV_DATETIME;
    if (x.kind == SYNCRT_MV_DATETIME)
        return x;
    if (x.kind == SYNCRT_MV_DATE) {
        v.u.dt = (int64_t)x.u.date * 86400000 + 12 * 3600000;
        return v;
    }
    if (x.kind != SYNCRT_MV_STRING)
        return absent();
    syncrt_date d;
    bool donly;
    if (!parse_date_arg(c, x, pattern, what, &v.u.dt, &d, &donly))
        return absent();
    if (donly)
        v.u.dt = (int64_t)d * 86400000 + 12 * 3600000;
    return v;
}

syncrt_mv syncrt_fn_format(syncrt_mctx *c, syncrt_mv x, const char *pattern)
{
    int64_t ms;
    if (x.kind == SYNCRT_MV_DATE)
        ms = (int64_t)x.u.date * 86400000;
    else if (x.kind == SYNCRT_MV_DATETIME)
        ms = x.u.dt;
    else
        return absent();
    int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    int64_t rest = ms - days * 86400000;
    int y, mo, d;
    syncrt_date_to_ymd((syncrt_date)days, &y, &mo, &d);
    int h = (int)(rest / 3600000), mi = (int)(rest / 60000 % 60), s = (int)(rest / 1000 % 60),
        milli = (int)(rest % 1000);
    char out[256];
    size_t o = 0;
    while (*pattern && o < sizeof out - 16) {
        bool lit;
        const char *t;
        size_t tn;
        pattern += pattern_token(pattern, &lit, &t, &tn);
        if (lit) {
            for (size_t k = 0; k < tn && o < sizeof out - 16; k++)
                out[o++] = t[k];
            continue;
        }
        int v;
        int width = (int)tn;
        switch (*t) {
        case 'y': v = tn == 2 ? y % 100 : y; break;
        case 'M': v = mo; break;
        case 'd': v = d; break;
        case 'H': v = h; break;
        case 'm': v = mi; break;
        case 's': v = s; break;
        case 'S': v = milli; break;
        case 'X':
            o += (size_t)snprintf(out + o, sizeof out - o, "%s", tn == 3 ? "Z" : "Z");
            continue;
        default: continue;
        }
        o += (size_t)snprintf(out + o, sizeof out - o, "%0*d", width, v);
    }
    char *r = buf(c, o);
    if (!r)
        return absent();
    memcpy(r, out, o);
    return syncrt_mv_str(r, o);
}

syncrt_mv syncrt_fn_now(syncrt_mctx *c)
{
    if (!c->now_ms) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        c->now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    syncrt_mv v = absent();
    v.kind = SYNCRT_MV_DATETIME;
    v.u.dt = c->now_ms;
    return v;
}

/* ---- money and addresses ---- */

syncrt_mv syncrt_fn_convert(syncrt_mctx *c, syncrt_mv amount, syncrt_mv from, syncrt_mv to,
                            const syncrt_mtable *rates)
{
    if (!syncrt_mv_present(amount) || from.kind != SYNCRT_MV_STRING || to.kind != SYNCRT_MV_STRING)
        return absent();
    syncrt_mv rf = syncrt_mv_lookup(c, rates, from), rt = syncrt_mv_lookup(c, rates, to);
    if (!syncrt_mv_present(rf) || !syncrt_mv_present(rt))
        return absent();
    syncrt_mv a = syncrt_fn_number(c, amount, "");
    if (a.kind != SYNCRT_MV_DECIMAL)
        return absent();
    int places = a.u.d.scale > 2 ? a.u.d.scale : 2;
    if (syncrt_mv_equal(from, to))
        return a;
    syncrt_mv q = syncrt_mv_binop(c, SYNCRT_OP_DIV, syncrt_mv_binop(c, SYNCRT_OP_MUL, a, rt), rf);
    if (q.kind != SYNCRT_MV_DECIMAL)
        return absent();
    return syncrt_fn_round(c, q, places, 0);
}

static const syncrt_country *country_of(syncrt_mv s)
{
    if (s.kind != SYNCRT_MV_STRING)
        return NULL;
    return syncrt_country_find(s.u.s.p, s.u.s.n);
}

syncrt_mv syncrt_fn_iso2(syncrt_mctx *c, syncrt_mv s)
{
    (void)c;
    const syncrt_country *k = country_of(s);
    return k ? syncrt_mv_str(k->alpha2, 2) : absent();
}

syncrt_mv syncrt_fn_iso3(syncrt_mctx *c, syncrt_mv s)
{
    (void)c;
    const syncrt_country *k = country_of(s);
    return k ? syncrt_mv_str(k->alpha3, 3) : absent();
}

syncrt_mv syncrt_fn_country(syncrt_mctx *c, syncrt_mv s)
{
    (void)c;
    const syncrt_country *k = country_of(s);
    return k ? syncrt_mv_str(k->name, strlen(k->name)) : absent();
}

syncrt_mv syncrt_fn_region(syncrt_mctx *c, syncrt_mv country, syncrt_mv region)
{
    (void)c;
    const syncrt_country *k = country_of(country);
    if (!k || region.kind != SYNCRT_MV_STRING)
        return absent();
    const char *r = syncrt_region_find(k->alpha2, region.u.s.p, region.u.s.n);
    return r ? syncrt_mv_str(r, strlen(r)) : absent();
}

syncrt_mv syncrt_fn_postal(syncrt_mctx *c, syncrt_mv code, syncrt_mv country)
{
    if (code.kind != SYNCRT_MV_STRING || country.kind != SYNCRT_MV_STRING)
        return absent();
    const syncrt_country *k = country_of(country);
    const char *cc = k ? k->alpha2 : "";
    char t[64];
    size_t n = 0;
    /* the significant characters, upper-cased */
    for (size_t i = 0; i < code.u.s.n && n < sizeof t - 1; i++) {
        char ch = code.u.s.p[i];
        if (ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 32);
        if ((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
            t[n++] = ch;
    }
    char o[80];
    size_t on = 0;
    if (!strcmp(cc, "US")) {
        for (size_t i = 0; i < n; i++)
            if (t[i] < '0' || t[i] > '9')
                return absent();
        if (n == 5) {
            memcpy(o, t, 5);
            on = 5;
        } else if (n == 9) {
            memcpy(o, t, 5);
            o[5] = '-';
            memcpy(o + 6, t + 5, 4);
            on = 10;
        } else {
            return absent();
        }
    } else if (!strcmp(cc, "CA")) {
        if (n != 6)
            return absent();
        for (size_t i = 0; i < 6; i++)
            if ((i % 2 == 0) != (t[i] >= 'A' && t[i] <= 'Z'))
                return absent();
        memcpy(o, t, 3);
        o[3] = ' ';
        memcpy(o + 4, t + 3, 3);
        on = 7;
    } else if (!strcmp(cc, "GB")) {
        if (n < 5 || n > 7)
            return absent();
        memcpy(o, t, n - 3);
        o[n - 3] = ' ';
        memcpy(o + n - 2, t + n - 3, 3);
        on = n + 1;
    } else {
        /* trimmed, inner white space collapsed to one space, upper-cased */
        syncrt_mv tr = syncrt_fn_trim(c, code);
        bool sp = false;
        for (size_t i = 0; i < tr.u.s.n && on < sizeof o - 1; i++) {
            char ch = tr.u.s.p[i];
            if (is_space(ch)) {
                sp = true;
                continue;
            }
            if (sp)
                o[on++] = ' ';
            sp = false;
            if (ch >= 'a' && ch <= 'z')
                ch = (char)(ch - 32);
            o[on++] = ch;
        }
        if (!on)
            return absent();
    }
    char *r = buf(c, on);
    if (!r)
        return absent();
    memcpy(r, o, on);
    return syncrt_mv_str(r, on);
}

/* ---- lists ---- */

syncrt_mv syncrt_fn_sum(syncrt_mctx *c, syncrt_mv list, int decimal)
{
    syncrt_mv acc = decimal ? syncrt_mv_dec_text(c, "0") : syncrt_mv_int(0);
    if (list.kind != SYNCRT_MV_LIST || list.u.l.t)
        return acc;
    const syncrt_mv *items = list.u.l.items;
    for (size_t i = 0; i < list.u.l.n; i++)
        if (syncrt_mv_present(items[i]))
            acc = syncrt_mv_binop(c, SYNCRT_OP_ADD, acc, items[i]);
    return acc;
}

syncrt_mv syncrt_fn_count(syncrt_mctx *c, syncrt_mv list)
{
    (void)c;
    return syncrt_mv_int(list.kind == SYNCRT_MV_LIST ? (int64_t)list.u.l.n : 0);
}

/* any(list), all(list) of a list of bool (syncrt_mv elements). */
static syncrt_mv quantify(syncrt_mv list, int want_any)
{
    if (list.kind != SYNCRT_MV_LIST || list.u.l.t)
        return syncrt_mv_bool(!want_any);
    const syncrt_mv *items = list.u.l.items;
    for (size_t i = 0; i < list.u.l.n; i++)
        if ((syncrt_mv_true(items[i]) ? 1 : 0) == want_any)
            return syncrt_mv_bool(want_any);
    return syncrt_mv_bool(!want_any);
}

syncrt_mv syncrt_fn_any(syncrt_mctx *c, syncrt_mv list)
{
    (void)c;
    return quantify(list, 1);
}

syncrt_mv syncrt_fn_all(syncrt_mctx *c, syncrt_mv list)
{
    (void)c;
    return quantify(list, 0);
}

syncrt_mv syncrt_fn_merge(syncrt_mctx *c, syncrt_mv list, size_t key, size_t qty, size_t same)
{
    if (list.kind != SYNCRT_MV_LIST || !list.u.l.t) {
        syncrt_mv v = absent();
        v.kind = SYNCRT_MV_LIST;
        v.u.l.t = list.kind == SYNCRT_MV_LIST ? list.u.l.t : NULL;
        v.u.l.items = NULL;
        return list.kind == SYNCRT_MV_LIST ? list : v;
    }
    const syncrt_mtype *t = list.u.l.t;
    char *out = syncrt_mctx_alloc(c, (list.u.l.n ? list.u.l.n : 1) * t->size);
    if (!out)
        return absent();
    size_t n = 0;
    const syncrt_mfield *qf = &t->fields[qty];
    for (size_t i = 0; i < list.u.l.n; i++) {
        const char *el = (const char *)list.u.l.items + i * t->size;
        syncrt_mv e = syncrt_mv_obj(el, t);
        syncrt_mv k = syncrt_mv_get(c, e, key);
        size_t hit = n;
        if (syncrt_mv_present(k))
            for (size_t j = 0; j < n; j++) {
                syncrt_mv o = syncrt_mv_obj(out + j * t->size, t);
                if (syncrt_mv_equal(syncrt_mv_get(c, o, key), k) &&
                    (same == (size_t)-1 ||
                     syncrt_mv_equal(syncrt_mv_get(c, o, same), syncrt_mv_get(c, e, same)))) {
                    hit = j;
                    break;
                }
            }
        if (hit == n) {
            memcpy(out + n * t->size, el, t->size);
            n++;
            continue;
        }
        char *o = out + hit * t->size;
        syncrt_mv sum = syncrt_mv_binop(c, SYNCRT_OP_ADD,
                                        syncrt_mv_get(c, syncrt_mv_obj(o, t), qty),
                                        syncrt_mv_get(c, e, qty));
        if (!syncrt_mv_present(sum))
            sum = syncrt_mv_present(syncrt_mv_get(c, e, qty)) ? syncrt_mv_get(c, e, qty)
                                                               : syncrt_mv_get(c, syncrt_mv_obj(o, t), qty);
        o[qf->has_offset] = SYNCRT_ABSENT;
        syncrt_mv_put(c, t, o, &qty, 1, sum);
    }
    syncrt_mv v = absent();
    v.kind = SYNCRT_MV_LIST;
    v.u.l.items = out;
    v.u.l.n = n;
    v.u.l.t = t;
    return v;
}

/* ---- enums and presence ---- */

syncrt_mv syncrt_fn_yesno(syncrt_mctx *c, syncrt_mv b)
{
    (void)c;
    if (b.kind != SYNCRT_MV_BOOL)
        return absent();
    return b.u.b ? syncrt_mv_str("Yes", 3) : syncrt_mv_str("No", 2);
}

syncrt_mv syncrt_fn_required(syncrt_mctx *c, syncrt_mv x, const char *what)
{
    if (!syncrt_mv_present(x))
        syncrt_mctx_error(c, what, "required value is missing");
    return x;
}

/* s as a JSON string (quoted, escaped). */
static void ref_put_json(syncrt_mbuf *b, const char *s, size_t n)
{
    syncrt_mbuf_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[8];
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            syncrt_mbuf_put(b, esc, 2);
        } else if (ch < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", ch);
            syncrt_mbuf_put(b, esc, 6);
        } else {
            syncrt_mbuf_put(b, s + i, 1);
        }
    }
    syncrt_mbuf_put(b, "\"", 1);
}

static void ref_put(syncrt_mbuf *b, const char *s, int quoted)
{
    if (quoted)
        ref_put_json(b, s, strlen(s));
    else
        syncrt_mbuf_put(b, s, strlen(s));
}

syncrt_mv syncrt_fn_ref(syncrt_mctx *c, syncrt_mv key, const char *route, const char *by,
                        const char *get)
{
    if (!syncrt_mv_present(key))
        return syncrt_mv_absent();
    if (key.kind != SYNCRT_MV_STRING)
        key = syncrt_fn_text(c, key);
    if (key.kind != SYNCRT_MV_STRING)
        return syncrt_mv_absent();
    syncrt_mbuf b;
    syncrt_mbuf_init(&b);
    ref_put(&b, "{\"$ref\":{\"route\":", 0);
    ref_put(&b, route, 1);
    ref_put(&b, ",\"by\":", 0);
    ref_put(&b, by, 1);
    ref_put(&b, ",\"value\":", 0);
    ref_put_json(&b, key.u.s.p, key.u.s.n);
    ref_put(&b, ",\"get\":", 0);
    ref_put(&b, get, 1);
    ref_put(&b, "}}", 0);
    char *p = b.oom ? NULL : syncrt_mctx_alloc(c, b.n + 1);
    if (p) {
        memcpy(p, b.p, b.n);
        p[b.n] = 0;
    }
    size_t n = b.n;
    if (b.oom)
        c->oom = true;
    syncrt_mbuf_free(&b);
    if (!p)
        return syncrt_mv_absent();
    syncrt_mv v;
    memset(&v, 0, sizeof v);
    v.kind = SYNCRT_MV_REF;
    v.u.s.p = p;
    v.u.s.n = n;
    return v;
}

void syncrt_fn_check(syncrt_mctx *c, syncrt_mv cond, const char *map, const char *message)
{
    if (!syncrt_mv_true(cond))
        syncrt_mctx_error(c, map, "check failed: %s", message);
}
