/* isotime.h - ISO 8601 timestamps as both systems write them ("2026-07-30T12:00:00Z",
 * "2026-01-01T00:00:00.000Z", "+02:00" offsets) to and from milliseconds since the epoch,
 * without the process's time zone (no mktime/localtime). */
#ifndef SYNCRT_ISOTIME_H
#define SYNCRT_ISOTIME_H

#include "syncrt/syncrt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SYNCRT_ISO_LENGTH 40

/* Parses YYYY-MM-DD[Thh:mm[:ss[.fraction]]][Z|+hh:mm|-hh:mm]; no zone means UTC.
 * SYNCRT_EPARSE for anything else (including impossible dates). */
syncrt_status syncrt_iso_parse(int64_t *ms, const char *text);

/* Writes "YYYY-MM-DDThh:mm:ss.mmmZ" (UTC) into buf (SYNCRT_ISO_LENGTH bytes). */
void syncrt_iso_format(char *buf, int64_t ms);

#ifdef __cplusplus
}
#endif
#endif
