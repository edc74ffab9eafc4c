/* decimal.h - exact decimal numbers for mapped values: a sign, a coefficient of up to 38
 * decimal digits and a scale (digits after the point).  389.45 is 38945 with scale 2 and
 * prints back as "389.45"; "12.50" keeps its scale and prints as "12.50".  Nothing here goes
 * through binary floating point.  Operations report SYNCRT_ERANGE when a result does not fit
 * 38 digits and SYNCRT_EPARSE on malformed text; they never print or abort. */
#ifndef SYNCRT_DECIMAL_H
#define SYNCRT_DECIMAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "syncrt/syncrt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SYNCRT_DECIMAL_DIGITS 38      /* most significant digits a coefficient holds */
#define SYNCRT_DECIMAL_TEXT 48        /* buffer size that fits any formatted decimal */
#define SYNCRT_DECIMAL_DIV_SCALE 16   /* decimals a quotient is computed to (then trimmed) */

typedef struct syncrt_decimal {
    uint64_t lo, hi;     /* the coefficient (unsigned 128-bit, < 10^38) */
    int16_t scale;       /* 0..38 */
    uint8_t neg;         /* 1 when negative (never for zero) */
} syncrt_decimal;

/* Parse JSON number text ("-12.50", "1e3", "0.1"): exact, trailing zeros kept. */
syncrt_status syncrt_decimal_parse(syncrt_decimal *out, const char *text, size_t len);
/* Plain text, no exponent ("389.45", "-0.001", "100000"); returns the length written.
 * size must be at least SYNCRT_DECIMAL_TEXT. */
size_t syncrt_decimal_format(const syncrt_decimal *d, char *buf, size_t size);

syncrt_decimal syncrt_decimal_from_int(int64_t v);
/* The integer part (toward zero); SYNCRT_ERANGE when it does not fit int64. */
syncrt_status syncrt_decimal_to_int(int64_t *out, const syncrt_decimal *d);

syncrt_status syncrt_decimal_add(syncrt_decimal *out, const syncrt_decimal *a, const syncrt_decimal *b);
syncrt_status syncrt_decimal_sub(syncrt_decimal *out, const syncrt_decimal *a, const syncrt_decimal *b);
syncrt_status syncrt_decimal_mul(syncrt_decimal *out, const syncrt_decimal *a, const syncrt_decimal *b);
/* a / b to SYNCRT_DECIMAL_DIV_SCALE decimals (half away from zero), then trailing zeros are
 * dropped down to the larger operand scale; SYNCRT_EINVAL on division by zero. */
syncrt_status syncrt_decimal_div(syncrt_decimal *out, const syncrt_decimal *a, const syncrt_decimal *b);
/* Round half away from zero (trunc: toward zero) to places decimals (0..38).  A value that
 * already has no more than places decimals is returned unchanged (no zero padding). */
syncrt_status syncrt_decimal_round(syncrt_decimal *out, const syncrt_decimal *a, int places, bool trunc);
/* -1, 0, 1 by value (12.50 == 12.5). */
int syncrt_decimal_cmp(const syncrt_decimal *a, const syncrt_decimal *b);
bool syncrt_decimal_is_zero(const syncrt_decimal *d);
/* Significant digits before the point (0 for 0.xx) */
int syncrt_decimal_int_digits(const syncrt_decimal *d);

#ifdef __cplusplus
}
#endif
#endif
