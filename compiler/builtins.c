/* builtins.c - the builtin function table of the .map language (see builtins.h).  Keep it in
 * step with the "Builtins" section of specs/language.md: the golden suite checks every
 * example there. */
#include "builtins.h"

#include <stdio.h>
#include <string.h>

static const mapc_builtin table[] = {
    /* text */
    {"upper", 1, 1, {P_STRING}, R_STRING, false, false,
     "upper(s: string) -> string", "upper-case (Unicode-aware for Latin letters)"},
    {"lower", 1, 1, {P_STRING}, R_STRING, false, false,
     "lower(s: string) -> string", "lower-case"},
    {"trim", 1, 1, {P_STRING}, R_STRING, false, false,
     "trim(s: string) -> string", "strip leading and trailing white space"},
    {"substr", 2, 3, {P_STRING, P_INT, P_INT}, R_STRING, false, false,
     "substr(s: string, start: int [, length: int]) -> string",
     "characters from start (0-based), at most length of them"},
    {"replace", 3, 3, {P_STRING, P_STRING, P_STRING}, R_STRING, false, false,
     "replace(s: string, from: string, to: string) -> string", "replace every occurrence"},
    {"concat", 1, -1, {P_STRING}, R_STRING, false, true,
     "concat(s: string, ...) -> string", "join strings; absent ones count as \"\""},
    {"join", 2, 2, {P_LIST_TEXT, P_STRING}, R_STRING, false, true,
     "join(list: list of string, separator: string) -> string",
     "join a list of strings (absent list: \"\")"},
    {"text", 1, 1, {P_SCALAR}, R_STRING, false, false,
     "text(x: scalar) -> string", "a number, date, bool, enum or guid as text"},
    /* numbers */
    {"number", 1, 1, {P_NUMTEXT}, R_DECIMAL, false, false,
     "number(s: string|int|decimal) -> decimal",
     "parse a decimal number; not a number is a validation error at run time"},
    {"round", 1, 2, {P_NUMBER, P_PLACES}, R_ROUND, false, false,
     "round(x: decimal [, places: int literal]) -> int | decimal",
     "round half away from zero, to an int or to places decimals"},
    {"trunc", 1, 2, {P_NUMBER, P_PLACES}, R_ROUND, false, false,
     "trunc(x: decimal [, places: int literal]) -> int | decimal",
     "cut toward zero, to an int or to places decimals"},
    /* dates */
    {"date", 1, 2, {P_DATESRC, P_PATTERN}, R_DATE, false, false,
     "date(x: string|datetime [, pattern]) -> date",
     "the date of a datetime, or parse a string (ISO-8601 or the pattern)"},
    {"datetime", 1, 2, {P_DATESRC, P_PATTERN}, R_DATETIME, false, false,
     "datetime(x: string|date [, pattern]) -> datetime",
     "parse a datetime (ISO-8601 or the pattern); a date becomes 12:00:00Z"},
    {"format", 2, 2, {P_TEMPORAL, P_PATTERN}, R_STRING, false, false,
     "format(d: date|datetime, pattern) -> string", "format with a pattern"},
    {"now", 0, 0, {P_ANY}, R_DATETIME, false, true,
     "now() -> datetime", "the time the record is mapped (UTC)"},
    /* money and addresses */
    {"convert", 4, 4, {P_NUMBER, P_STRING, P_STRING, P_TABLE}, R_DECIMAL, true, false,
     "convert(amount: decimal, from: string, to: string, rates: table) -> decimal",
     "currency conversion: amount / rates[from] * rates[to] (rates per unit of a base "
     "currency); absent when a currency is not in the table"},
    {"iso2", 1, 1, {P_STRING}, R_STRING, true, false,
     "iso2(country: string) -> string",
     "ISO 3166 alpha-2 code of an alpha-2, alpha-3 code or English country name"},
    {"iso3", 1, 1, {P_STRING}, R_STRING, true, false,
     "iso3(country: string) -> string", "ISO 3166 alpha-3 code, same inputs as iso2"},
    {"country", 1, 1, {P_STRING}, R_STRING, true, false,
     "country(country: string) -> string", "English short name of a country"},
    {"region", 2, 2, {P_STRING, P_STRING}, R_STRING, true, false,
     "region(country: string, region: string) -> string",
     "ISO 3166-2 subdivision code (without the country prefix) of a region code or name"},
    {"postal", 2, 2, {P_STRING, P_STRING}, R_STRING, true, false,
     "postal(code: string, country: string) -> string",
     "postal code cleaned up for the country (US 12345 / 12345-6789, CA A1A 1A1, "
     "GB outward inward, others trimmed and upper-cased)"},
    /* lists */
    {"sum", 1, 1, {P_LIST_NUMBER}, R_SUM, false, true,
     "sum(list: list of number) -> int | decimal", "sum; absent elements count as 0"},
    {"count", 1, 1, {P_LIST}, R_INT, false, true,
     "count(list) -> int", "number of elements (absent list: 0)"},
    {"any", 1, 1, {P_LIST_BOOL}, R_BOOL, false, true,
     "any(list: list of bool) -> bool",
     "some element is true (absent elements count as false; empty or absent list: false)"},
    {"all", 1, 1, {P_LIST_BOOL}, R_BOOL, false, true,
     "all(list: list of bool) -> bool",
     "every element is true (absent elements count as false; empty or absent list: true)"},
    {"merge", 3, 4, {P_LIST, P_FIELD, P_FIELD, P_FIELD}, R_LIST0, false, true,
     "merge(list, KEY, QTY [, SAME]) -> list",
     "merge elements with equal KEY (and equal SAME when given), summing QTY; first wins "
     "for the other fields"},
    /* enums and presence */
    {"yesno", 1, 1, {P_BOOL}, R_NOYES, false, false,
     "yesno(b: bool) -> NoYes", "true -> Yes, false -> No"},
    {"enum", 1, 1, {P_STRING}, R_ANYENUM, false, false,
     "enum(s: string) -> enum",
     "a string into the target's enum; not a member is a validation error at run time"},
    {"required", 1, 1, {P_ANY}, R_ARG0, false, true,
     "required(x: T) -> T",
     "x, never absent: an absent x is a validation error at run time"},
};

size_t mapc_builtin_count(void) { return sizeof table / sizeof table[0]; }

const mapc_builtin *mapc_builtin_at(size_t i)
{
    return i < mapc_builtin_count() ? &table[i] : NULL;
}

const mapc_builtin *mapc_builtin_find(const char *name)
{
    for (size_t i = 0; i < mapc_builtin_count(); i++)
        if (!strcmp(table[i].name, name))
            return &table[i];
    return NULL;
}

const char *mapc_pattern_error(const char *p, char *buf, size_t size)
{
    static const char *const tokens[] = {"yyyy", "yy", "MM", "dd", "HH", "mm", "ss", "SSS",
                                         "M", "d", "H", "XXX", "X"};
    bool any = false;
    while (*p) {
        if (*p == '\'') {               /* 'quoted literal text' */
            const char *q = strchr(p + 1, '\'');
            if (!q)
                return "unterminated quote in date pattern";
            p = q + 1;
            continue;
        }
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) {
            size_t run = 1;
            while (p[run] == p[0])
                run++;
            bool ok = false;
            for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++)
                if (strlen(tokens[i]) == run && !strncmp(tokens[i], p, run)) {
                    ok = true;
                    break;
                }
            if (!ok) {
                snprintf(buf, size, "unknown field '%.*s' in date pattern (fields: yyyy yy MM M "
                         "dd d HH H mm ss SSS X XXX; quote other letters with ')",
                         (int)(run > 16 ? 16 : run), p);
                return buf;
            }
            any = true;
            p += run;
            continue;
        }
        p++;
    }
    return any ? NULL : "date pattern has no fields";
}
