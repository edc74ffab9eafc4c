/* builtins.h - the one table of the .map language's builtin functions: name, arity, the kind
 * of each argument, the result type and whether the result may be absent.  The checker types
 * calls from it, specs/language.md documents it, and code generation maps each entry to its
 * run-time implementation (runtime/, next milestone). */
#ifndef MAPC_BUILTINS_H
#define MAPC_BUILTINS_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What an argument must be. */
typedef enum mapc_param {
    P_STRING,      /* string */
    P_INT,         /* int */
    P_NUMBER,      /* int or decimal */
    P_NUMTEXT,     /* string, int or decimal (number()) */
    P_BOOL,        /* bool */
    P_TEMPORAL,    /* date or datetime */
    P_DATESRC,     /* string, date or datetime (date(), datetime()) */
    P_SCALAR,      /* any scalar: string, number, bool, date, datetime, enum, guid */
    P_ANY,         /* anything (required()) */
    P_LIST,        /* a list */
    P_LIST_NUMBER, /* a list of int or decimal */
    P_LIST_TEXT,   /* a list of strings */
    P_LIST_BOOL,   /* a list of bools */
    P_PATTERN,     /* a string literal: a date pattern (yyyy MM dd HH mm ss SSS, others literal) */
    P_PLACES,      /* an integer literal 0..18: decimal places */
    P_TABLE,       /* the name of a table (with numeric values for convert()) */
    P_FIELD        /* the name of a field of the elements of the first (list) argument */
} mapc_param;

/* The result type. */
typedef enum mapc_result {
    R_STRING, R_INT, R_DECIMAL, R_BOOL, R_DATE, R_DATETIME,
    R_NOYES,       /* yesno(): fits a NoYes-like enum target */
    R_ANYENUM,     /* enum(): fits any enum target, member checked at run time */
    R_ARG0,        /* the first argument's type, never absent (required()) */
    R_ROUND,       /* int without places, decimal with them */
    R_SUM,         /* int over a list of int, else decimal */
    R_LIST0        /* the first argument's list type */
} mapc_result;

#define MAPC_BUILTIN_MAXP 4

typedef struct mapc_builtin {
    const char *name;
    int min_args, max_args;           /* max_args < 0: variadic, the last param repeats */
    mapc_param params[MAPC_BUILTIN_MAXP];
    mapc_result result;
    bool may_fail;                    /* absent result even for present arguments
                                         (unknown country, missing rate, ...) */
    bool never_absent;                /* present even when arguments are absent */
    const char *signature;            /* for messages and the reference */
    const char *summary;
} mapc_builtin;

size_t mapc_builtin_count(void);
const mapc_builtin *mapc_builtin_at(size_t i);
const mapc_builtin *mapc_builtin_find(const char *name);

/* Check a date pattern; returns NULL when fine, else the message (in buf). */
const char *mapc_pattern_error(const char *pattern, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
