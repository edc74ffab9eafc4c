/* test_decimal.c - the runtime's exact decimal (syncrt/decimal.h): text round trips of 28+
 * digit values and of random values up to 38 digits, exact sums where binary floating point
 * is not (0.1 + 0.2), products and quotients, rounding and truncation, comparison by value,
 * integer conversion at the int64 edges, and SYNCRT_ERANGE instead of silent loss. */
#include "syncrt/decimal.h"
#include "syncrt/retry.h"
#include "testhelp.h"

#include <stdlib.h>
#include <string.h>

static syncrt_decimal dec(const char *s)
{
    syncrt_decimal d;
    memset(&d, 0, sizeof d);
    if (syncrt_decimal_parse(&d, s, strlen(s)) != SYNCRT_OK)
        printf("# could not parse %s\n", s);
    return d;
}

static const char *text(const syncrt_decimal *d)
{
    static char buf[4][SYNCRT_DECIMAL_TEXT];
    static int i;
    char *b = buf[i++ % 4];
    syncrt_decimal_format(d, b, SYNCRT_DECIMAL_TEXT);
    return b;
}

static void roundtrip(const char *s)
{
    syncrt_decimal d = dec(s);
    CHECK_STR(text(&d), s, "round trip %s", s);
}

static void test_text(void)
{
    syncrt_decimal d;
    roundtrip("0");
    roundtrip("12.50");
    roundtrip("-0.001");
    roundtrip("389.45");
    roundtrip("141700.0");
    roundtrip("1234567890123456789012345678.99");                 /* 30 digits */
    roundtrip("79228162514264337593543950335");                   /* .NET decimal max */
    roundtrip("-7922816251426433759354395033.5");
    roundtrip("99999999999999999999999999999999999999");          /* 38 nines */
    roundtrip("0.00000000000000000000000000000000000001");        /* scale 38 */
    CHECK_INT(syncrt_decimal_parse(&d, "999999999999999999999999999999999999999", 39), SYNCRT_ERANGE,
              "39 digits do not fit: ERANGE, not rounding");
    CHECK_INT(syncrt_decimal_parse(&d, "1e3", 3), SYNCRT_OK, "exponent form");
    CHECK_STR(text(&d), "1000", "exponent expanded");
    CHECK_INT(syncrt_decimal_parse(&d, "1.5E-3", 6), SYNCRT_OK, "negative exponent");
    CHECK_STR(text(&d), "0.0015", "scale from the exponent");
    CHECK_INT(syncrt_decimal_parse(&d, "1e39", 4), SYNCRT_ERANGE, "1e39 does not fit");
    CHECK_INT(syncrt_decimal_parse(&d, "12a", 3), SYNCRT_EPARSE, "junk after the number");
    CHECK_INT(syncrt_decimal_parse(&d, "", 0), SYNCRT_EPARSE, "empty");
    CHECK_INT(syncrt_decimal_parse(&d, "-", 1), SYNCRT_EPARSE, "a sign alone");
    CHECK_INT(syncrt_decimal_parse(&d, "1e", 2), SYNCRT_EPARSE, "exponent without digits");
    CHECK_INT(syncrt_decimal_parse(&d, "12.34xyz", 4), SYNCRT_OK, "len bounds the text");
    CHECK_STR(text(&d), "12.3", "only len bytes read");
}

/* Random decimals of up to 38 digits, plain notation, survive text -> decimal -> text. */
static void test_random_roundtrip(void)
{
    syncrt_rng rng;
    int i, bad = 0;
    syncrt_rng_seed(&rng, 2026);
    for (i = 0; i < 20000; i++) {
        char s[64];
        int ndig = 1 + (int)syncrt_rng_upto(&rng, 37), scale = (int)syncrt_rng_upto(&rng, ndig < 38 ? ndig : 38);
        int o = 0, k, intdig = ndig - scale;
        syncrt_decimal d;
        if (syncrt_rng_upto(&rng, 1))
            s[o++] = '-';
        if (intdig == 0)
            s[o++] = '0';
        for (k = 0; k < ndig; k++) {
            if (k == intdig)
                s[o++] = '.';
            s[o++] = (char)('0' + (k == 0 && intdig > 0 ? 1 + syncrt_rng_upto(&rng, 8) : syncrt_rng_upto(&rng, 9)));
        }
        s[o] = '\0';          /* with no integer digit the loop wrote "0.ddd" */
        if (syncrt_decimal_parse(&d, s, strlen(s)) != SYNCRT_OK || strcmp(text(&d), s) != 0) {
            int all_zero = 1;
            const char *p;
            for (p = s; *p; p++)
                if (*p >= '1' && *p <= '9')
                    all_zero = 0;
            if (all_zero && s[0] == '-')
                continue;      /* "-0.00" has no sign to keep: zero is never negative */
            if (++bad <= 3)
                printf("#   %s -> %s\n", s, text(&d));
        }
    }
    CHECK_INT(bad, 0, "20,000 random decimals of up to 38 digits round-trip exactly");
}

static void test_arithmetic(void)
{
    syncrt_decimal a, b, r;
    a = dec("0.1");
    b = dec("0.2");
    CHECK_INT(syncrt_decimal_add(&r, &a, &b), SYNCRT_OK, "0.1 + 0.2");
    CHECK_STR(text(&r), "0.3", "is exactly 0.3");
    a = dec("1234567890123456789012345678.99");
    b = dec("0.01");
    syncrt_decimal_add(&r, &a, &b);
    CHECK_STR(text(&r), "1234567890123456789012345679.00", "30-digit sum carries exactly");
    syncrt_decimal_sub(&r, &b, &a);
    CHECK_STR(text(&r), "-1234567890123456789012345678.98", "subtraction to a negative");
    a = dec("389.45");
    b = dec("-389.45");
    syncrt_decimal_add(&r, &a, &b);
    CHECK(syncrt_decimal_is_zero(&r), "x + -x is zero");
    a = dec("99999999999999999999999999999999999999");
    b = dec("1");
    CHECK_INT(syncrt_decimal_add(&r, &a, &b), SYNCRT_ERANGE, "overflow is ERANGE");
    a = dec("1.10");
    b = dec("3");
    syncrt_decimal_mul(&r, &a, &b);
    CHECK_STR(text(&r), "3.30", "1.10 * 3 keeps the scale");
    a = dec("19.99");
    b = dec("12.5");
    syncrt_decimal_mul(&r, &a, &b);
    CHECK_STR(text(&r), "249.875", "price * quantity exactly");
    a = dec("12345678901234567890");
    b = dec("123456789012345678901");
    CHECK_INT(syncrt_decimal_mul(&r, &a, &b), SYNCRT_ERANGE, "a 41-digit product is ERANGE");
    a = dec("10");
    b = dec("4");
    syncrt_decimal_div(&r, &a, &b);
    CHECK_STR(text(&r), "2.5", "10 / 4");
    a = dec("1");
    b = dec("3");
    syncrt_decimal_div(&r, &a, &b);
    CHECK_STR(text(&r), "0.3333333333333333", "1 / 3 to 16 places");
    a = dec("2");
    b = dec("3");
    syncrt_decimal_div(&r, &a, &b);
    CHECK_STR(text(&r), "0.6666666666666667", "2 / 3 rounds half away from zero");
    b = dec("0.00");
    CHECK_INT(syncrt_decimal_div(&r, &a, &b), SYNCRT_EINVAL, "division by zero");
}

static void test_round_cmp_int(void)
{
    syncrt_decimal a, b, r;
    int64_t v = 0;

    a = dec("2.345");
    syncrt_decimal_round(&r, &a, 2, false);
    CHECK_STR(text(&r), "2.35", "round half away from zero");
    a = dec("-2.345");
    syncrt_decimal_round(&r, &a, 2, false);
    CHECK_STR(text(&r), "-2.35", "negative half away from zero");
    syncrt_decimal_round(&r, &a, 2, true);
    CHECK_STR(text(&r), "-2.34", "trunc goes toward zero");
    a = dec("9.999");
    syncrt_decimal_round(&r, &a, 0, false);
    CHECK_STR(text(&r), "10", "rounding carries into a new digit");
    a = dec("12.5");
    syncrt_decimal_round(&r, &a, 2, false);
    CHECK_STR(text(&r), "12.5", "fewer places than asked: unchanged");
    CHECK_INT(syncrt_decimal_round(&r, &a, 39, false), SYNCRT_EINVAL, "places over 38");

    a = dec("12.50");
    b = dec("12.5");
    CHECK_INT(syncrt_decimal_cmp(&a, &b), 0, "12.50 equals 12.5");
    b = dec("-0.0");
    a = dec("0");
    CHECK_INT(syncrt_decimal_cmp(&a, &b), 0, "-0.0 equals 0");
    a = dec("-1.5");
    b = dec("-1.25");
    CHECK_INT(syncrt_decimal_cmp(&a, &b), -1, "-1.5 < -1.25");
    a = dec("99999999999999999999999999999999999999");
    b = dec("0.00000000000000000000000000000000000001");
    CHECK_INT(syncrt_decimal_cmp(&a, &b), 1, "compare across scales that cannot be aligned");
    CHECK_INT(syncrt_decimal_cmp(&b, &a), -1, "and back");

    a = dec("-9223372036854775808");
    CHECK_INT(syncrt_decimal_to_int(&v, &a), SYNCRT_OK, "INT64_MIN fits");
    CHECK(v == INT64_MIN, "INT64_MIN value");
    a = dec("9223372036854775808");
    CHECK_INT(syncrt_decimal_to_int(&v, &a), SYNCRT_ERANGE, "INT64_MAX + 1 does not");
    a = dec("42.99");
    CHECK_INT(syncrt_decimal_to_int(&v, &a), SYNCRT_OK, "integer part");
    CHECK_INT(v, 42, "toward zero");
    a = syncrt_decimal_from_int(INT64_MIN);
    CHECK_STR(text(&a), "-9223372036854775808", "from INT64_MIN");
    CHECK_INT(syncrt_decimal_int_digits(&a), 19, "19 integer digits");
}

int main(void)
{
    test_text();
    test_random_roundtrip();
    test_arithmetic();
    test_round_cmp_int();
    return test_done();
}
