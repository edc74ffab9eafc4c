/* isotime.c - ISO 8601 <-> epoch milliseconds (see syncrt/isotime.h).  Civil-date arithmetic
 * on the proleptic Gregorian calendar (days from civil and back), so no time zone database
 * and no global state is involved. */
#include "syncrt/isotime.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int num(const char *s, int n, int *out)
{
    int i, v = 0;
    for (i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

syncrt_status syncrt_iso_parse(int64_t *ms, const char *s)
{
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, scale = 100, oh = 0, om = 0, sign = 0;
    const char *p;
    int leap;

    *ms = 0;
    if (!s || !num(s, 4, &y) || s[4] != '-' || !num(s + 5, 2, &mo) || s[7] != '-' || !num(s + 8, 2, &d))
        return SYNCRT_EPARSE;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
        return SYNCRT_EPARSE;
    leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap)
        return SYNCRT_EPARSE;
    p = s + 10;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        if (!num(p + 1, 2, &h) || p[3] != ':' || !num(p + 4, 2, &mi))
            return SYNCRT_EPARSE;
        p += 6;
        if (*p == ':') {
            if (!num(p + 1, 2, &sec))
                return SYNCRT_EPARSE;
            p += 3;
            if (*p == '.' || *p == ',') {
                p++;
                if (!isdigit((unsigned char)*p))
                    return SYNCRT_EPARSE;
                for (; isdigit((unsigned char)*p); p++) {
                    frac += (*p - '0') * scale;     /* milliseconds; finer digits dropped */
                    scale /= 10;
                }
            }
        }
        if (h > 23 || mi > 59 || sec > 60)
            return SYNCRT_EPARSE;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        if (!num(p + 1, 2, &oh) || p[3] != ':' || !num(p + 4, 2, &om) || oh > 14 || om > 59)
            return SYNCRT_EPARSE;
        p += 6;
    }
    if (*p)
        return SYNCRT_EPARSE;
    *ms = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) -
           (int64_t)sign * (oh * 3600 + om * 60)) * 1000 + frac;
    return SYNCRT_OK;
}

void syncrt_iso_format(char *buf, int64_t ms)
{
    int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    int64_t rest = ms - days * 86400000, y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(buf, SYNCRT_ISO_LENGTH, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, m, d,
             (int)(rest / 3600000), (int)(rest / 60000 % 60), (int)(rest / 1000 % 60), (int)(rest % 1000));
}
