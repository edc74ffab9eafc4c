/* decimal.c - exact decimal arithmetic for mapped values (see syncrt/decimal.h).  The
 * coefficient is an unsigned 128-bit integer (GCC/Clang's __int128, used only inside this
 * file: the public struct holds two uint64_t so generated code stays ISO C). */
#include "syncrt/decimal.h"

#include <string.h>

__extension__ typedef unsigned __int128 u128;

static u128 coef(const syncrt_decimal *d) { return ((u128)d->hi << 64) | d->lo; }

static u128 pow10_(int n)
{
    u128 r = 1;
    while (n-- > 0)
        r *= 10;
    return r;
}

#define COEF_LIMIT (pow10_(SYNCRT_DECIMAL_DIGITS))   /* exclusive */

static syncrt_decimal make(u128 c, int scale, bool neg)
{
    syncrt_decimal d;
    d.lo = (uint64_t)c;
    d.hi = (uint64_t)(c >> 64);
    d.scale = (int16_t)scale;
    d.neg = (uint8_t)(neg && c != 0);
    return d;
}

/* c * 10^k within the limit? */
static bool scale_up(u128 *c, int k)
{
    u128 lim = COEF_LIMIT;
    while (k-- > 0) {
        if (*c > (lim - 1) / 10)
            return false;
        *c *= 10;
    }
    return true;
}

syncrt_status syncrt_decimal_parse(syncrt_decimal *out, const char *s, size_t len)
{
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    u128 c = 0;
    int digits = 0, scale = 0;
    bool any = false, point = false;
    for (; i < len; i++) {
        char ch = s[i];
        if (ch >= '0' && ch <= '9') {
            any = true;
            if (c != 0 || ch != '0' || point) {
                if (c != 0 || ch != '0')
                    digits++;
                if (digits > SYNCRT_DECIMAL_DIGITS)
                    return SYNCRT_ERANGE;
                c = c * 10 + (unsigned)(ch - '0');
            }
            if (point)
                scale++;
        } else if (ch == '.' && !point) {
            point = true;
        } else {
            break;
        }
    }
    if (!any)
        return SYNCRT_EPARSE;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            eneg = s[i++] == '-';
        long e = 0;
        bool edig = false;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            edig = true;
            if (e < 1000)
                e = e * 10 + (s[i] - '0');
        }
        if (!edig)
            return SYNCRT_EPARSE;
        if (eneg) {
            scale += (int)e;
        } else if (e <= scale) {
            scale -= (int)e;
        } else {
            if (!scale_up(&c, (int)e - scale))
                return SYNCRT_ERANGE;
            scale = 0;
        }
    }
    if (i != len)
        return SYNCRT_EPARSE;
    if (scale > SYNCRT_DECIMAL_DIGITS)
        return SYNCRT_ERANGE;
    *out = make(c, scale, neg);
    return SYNCRT_OK;
}

size_t syncrt_decimal_format(const syncrt_decimal *d, char *buf, size_t size)
{
    char digits[48];
    int n = 0;
    u128 c = coef(d);
    do {
        digits[n++] = (char)('0' + (int)(c % 10));
        c /= 10;
    } while (c);
    while (n <= d->scale)
        digits[n++] = '0';
    size_t o = 0;
    if (size < SYNCRT_DECIMAL_TEXT) {
        if (size)
            buf[0] = 0;
        return 0;
    }
    if (d->neg)
        buf[o++] = '-';
    for (int i = n - 1; i >= 0; i--) {
        buf[o++] = digits[i];
        if (i == d->scale && i > 0)
            buf[o++] = '.';
    }
    buf[o] = 0;
    return o;
}

syncrt_decimal syncrt_decimal_from_int(int64_t v)
{
    u128 c = v < 0 ? (u128)(-(v + 1)) + 1 : (u128)v;
    return make(c, 0, v < 0);
}

syncrt_status syncrt_decimal_to_int(int64_t *out, const syncrt_decimal *d)
{
    u128 c = coef(d) / pow10_(d->scale);
    if (c > (u128)INT64_MAX + (d->neg ? 1 : 0))
        return SYNCRT_ERANGE;
    *out = d->neg ? (int64_t)(-(c - 1)) - 1 : (int64_t)c;
    if (d->neg && c == 0)
        *out = 0;
    return SYNCRT_OK;
}

/* Bring both to the larger scale. */
static syncrt_status align(u128 *ca, u128 *cb, int *scale, const syncrt_decimal *a,
                           const syncrt_decimal *b)
{
    *ca = coef(a);
    *cb = coef(b);
    *scale = a->scale > b->scale ? a->scale : b->scale;
    if (!scale_up(ca, *scale - a->scale) || !scale_up(cb, *scale - b->scale))
        return SYNCRT_ERANGE;
    return SYNCRT_OK;
}

static syncrt_status addsub(syncrt_decimal *out, const syncrt_decimal *a, const syncrt_decimal *b,
                            bool negate_b)
{
    u128 ca, cb;
    int scale;
    if (align(&ca, &cb, &scale, a, b) != SYNCRT_OK)
        return SYNCRT_ERANGE;
    bool na = a->neg, nb = b->neg ^ (negate_b && cb != 0);
    if (na == nb) {
        u128 r = ca + cb;
        if (r >= COEF_LIMIT)
            return SYNCRT_ERANGE;
        *out = make(r, scale, na);
    } else if (ca >= cb) {
        *out = make(ca - cb, scale, na);
    } else {
        *out = make(cb - ca, scale, nb);
    }
    return SYNCRT_OK;
}

syncrt_status syncrt_decimal_add(syncrt_decimal *out, const syncrt_decimal *a, const syncrt_decimal *b)
{
    return addsub(out, a, b, false);
}

syncrt_status syncrt_decimal_sub(syncrt_decimal *out, const syncrt_decimal *a, const syncrt_decimal *b)
{
    return addsub(out, a, b, true);
}

/* Drop trailing zeros while the scale is above min_scale. */
static void trim(u128 *c, int *scale, int min_scale)
{
    while (*scale > min_scale && *c % 10 == 0) {
        *c /= 10;
        (*scale)--;
    }
}

syncrt_status syncrt_decimal_mul(syncrt_decimal *out, const syncrt_decimal *a, const syncrt_decimal *b)
{
    u128 ca = coef(a), cb = coef(b);
    int scale = a->scale + b->scale;
    /* shed trailing zeros first so 1.50 * 2.00 has room */
    int keep = a->scale > b->scale ? a->scale : b->scale;
    if (ca && cb && ca > (COEF_LIMIT - 1) / cb) {
        int sa = a->scale, sb = b->scale;
        trim(&ca, &sa, 0);
        trim(&cb, &sb, 0);
        scale = sa + sb;
        if (ca && cb && ca > (COEF_LIMIT - 1) / cb)
            return SYNCRT_ERANGE;
    }
    u128 r = ca * cb;
    if (scale > SYNCRT_DECIMAL_DIGITS) {
        trim(&r, &scale, keep);
        if (scale > SYNCRT_DECIMAL_DIGITS)
            return SYNCRT_ERANGE;
    }
    *out = make(r, scale, a->neg != b->neg);
    return SYNCRT_OK;
}

syncrt_status syncrt_decimal_div(syncrt_decimal *out, const syncrt_decimal *a, const syncrt_decimal *b)
{
    u128 ca = coef(a), cb = coef(b);
    if (cb == 0)
        return SYNCRT_EINVAL;
    int target = SYNCRT_DECIMAL_DIV_SCALE;
    int minscale = a->scale > b->scale ? a->scale : b->scale;
    if (target < minscale)
        target = minscale;
    /* value = ca/10^sa / (cb/10^sb) = ca * 10^(sb - sa + target) / cb / 10^target */
    for (;; target--) {
        if (target < 0)
            return SYNCRT_ERANGE;
        int k = b->scale - a->scale + target;
        u128 num = ca, den = cb;
        if (k >= 0) {
            if (!scale_up(&num, k))
                continue;
        } else if (!scale_up(&den, -k)) {
            return SYNCRT_ERANGE;
        }
        u128 q = num / den, r = num % den;
        if (r >= den - r)       /* r*2 >= den without overflow: half away from zero */
            q++;
        if (q >= COEF_LIMIT)
            continue;
        int scale = target;
        trim(&q, &scale, minscale < target ? minscale : target);
        *out = make(q, scale, a->neg != b->neg);
        return SYNCRT_OK;
    }
}

syncrt_status syncrt_decimal_round(syncrt_decimal *out, const syncrt_decimal *a, int places, bool trunc_)
{
    if (places < 0 || places > SYNCRT_DECIMAL_DIGITS)
        return SYNCRT_EINVAL;
    if (a->scale <= places) {
        *out = *a;
        return SYNCRT_OK;
    }
    u128 c = coef(a), p = pow10_(a->scale - places);
    u128 q = c / p, r = c % p;
    if (!trunc_ && r >= p - r)
        q++;
    *out = make(q, places, a->neg);
    return SYNCRT_OK;
}

int syncrt_decimal_cmp(const syncrt_decimal *a, const syncrt_decimal *b)
{
    bool za = syncrt_decimal_is_zero(a), zb = syncrt_decimal_is_zero(b);
    bool na = a->neg && !za, nb = b->neg && !zb;
    if (na != nb)
        return na ? -1 : 1;
    u128 ca, cb;
    int scale;
    int r;
    if (align(&ca, &cb, &scale, a, b) != SYNCRT_OK) {
        /* the one with more integer digits is larger in magnitude */
        int da = syncrt_decimal_int_digits(a), db = syncrt_decimal_int_digits(b);
        r = da < db ? -1 : 1;
    } else {
        r = ca < cb ? -1 : ca > cb ? 1 : 0;
    }
    return na ? -r : r;
}

bool syncrt_decimal_is_zero(const syncrt_decimal *d) { return d->lo == 0 && d->hi == 0; }

int syncrt_decimal_int_digits(const syncrt_decimal *d)
{
    u128 c = coef(d) / pow10_(d->scale);
    int n = 0;
    while (c) {
        n++;
        c /= 10;
    }
    return n;
}
