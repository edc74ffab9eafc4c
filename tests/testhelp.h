/* testhelp.h - a tiny TAP assertion header for the C unit tests (in the spirit of redis'
 * testhelp.h).  Each CHECK prints "ok N - what" or "not ok N - what" with the location;
 * test_done() returns the exit status for main(). */
#ifndef TESTHELP_H
#define TESTHELP_H
#include <stdio.h>
#include <string.h>

static int th_count, th_failed;

#define CHECK(cond, ...) do { \
    ++th_count; \
    if (cond) { printf("ok %d - ", th_count); } \
    else { ++th_failed; printf("not ok %d - ", th_count); } \
    printf(__VA_ARGS__); printf("\n"); \
    if (!(cond)) printf("#   failed: %s at %s:%d\n", #cond, __FILE__, __LINE__); \
} while (0)

#define CHECK_STR(got, want, ...) do { \
    const char *th_g = (got), *th_w = (want); \
    int th_ok = th_g && th_w && strcmp(th_g, th_w) == 0; \
    CHECK(th_ok, __VA_ARGS__); \
    if (!th_ok) printf("#   got:  %s\n#   want: %s\n", th_g ? th_g : "(null)", th_w ? th_w : "(null)"); \
} while (0)

#define CHECK_INT(got, want, ...) do { \
    long long th_g = (long long)(got), th_w = (long long)(want); \
    CHECK(th_g == th_w, __VA_ARGS__); \
    if (th_g != th_w) printf("#   got:  %lld\n#   want: %lld\n", th_g, th_w); \
} while (0)

static inline int test_done(void) {
    printf("1..%d\n", th_count);
    return th_failed ? 1 : 0;
}
#endif
