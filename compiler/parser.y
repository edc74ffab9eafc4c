/* parser.y - the grammar of the .map language (pure bison parser over the reentrant flex
 * lexer of lexer.l).  Actions only call the AST constructors of ast.h; a %destructor per
 * semantic type frees whatever error recovery discards.  Recovery points: a map item, a flow
 * item, a table entry and a top-level declaration, so one run reports several syntax errors.
 * A few deliberate productions turn common slips into pointed messages ('==' to assign, '='
 * in a check, a map without 'as NAME', a check without ':'), and an error at end of file
 * inside a block adds the note "unterminated map block?" at the opening brace. */

%define api.pure full
%define api.prefix {mapc_yy}
%define api.location.type {mapc_loc}
%define parse.error custom
%locations
%expect 0

%parse-param {mapc_parse_state *ps} {void *scanner}
%lex-param {void *scanner}

%code requires {
#include "ast.h"
#include "parse.h"
}

%code {
#include <stdlib.h>
#include <string.h>

#define YYSTYPE MAPC_YYSTYPE
#define YYLTYPE MAPC_YYLTYPE
#include "lexer.h"

#define YYLLOC_DEFAULT(Cur, Rhs, N)                                         \
    do {                                                                    \
        if (N) {                                                            \
            (Cur).file = YYRHSLOC(Rhs, 1).file;                             \
            (Cur).start = YYRHSLOC(Rhs, 1).start;                           \
            (Cur).end = YYRHSLOC(Rhs, N).end;                               \
        } else {                                                            \
            (Cur).file = YYRHSLOC(Rhs, 0).file;                             \
            (Cur).start = (Cur).end = YYRHSLOC(Rhs, 0).end;                 \
        }                                                                   \
    } while (0)

static void mapc_yyerror(mapc_loc *loc, mapc_parse_state *ps, void *scanner, const char *msg);
static char *where_text(mapc_parse_state *ps, mapc_loc at);

/* Every constructor returns NULL only when out of memory. */
#define MK(lhs, expr) do { if (!((lhs) = (expr))) YYNOMEM; } while (0)
#define PUSH(vec, item) do { if ((item) && !ast_vec_push((vec), (item))) YYNOMEM; } while (0)
}

%union {
    char *str;
    int num;
    ast_expr *expr;
    ast_case *mcase;
    ast_qname *qname;
    ast_path *path;
    ast_item *item;
    ast_entry *entry;
    ast_child *child;
    ast_fitem *fitem;
    ast_decl *decl;
    ast_vec *vec;
}

%destructor { free($$); } <str>
%destructor { ast_free_expr($$); } <expr>
%destructor { ast_free_case($$); } <mcase>
%destructor { ast_free_qname($$); } <qname>
%destructor { ast_free_path($$); } <path>
%destructor { ast_free_item($$); } <item>
%destructor { ast_free_entry($$); } <entry>
%destructor { ast_free_child($$); } <child>
%destructor { ast_free_fitem($$); } <fitem>
%destructor { ast_free_decl($$); } <decl>
%destructor { ast_vec_free($$); } <vec>
%destructor { } <num>

%token <str> IDENT "name"
%token <str> STRING "string"
%token <str> INT "integer"
%token <str> DECIMAL "decimal number"
%token <str> DATE "date"
%token <str> DURATION "duration"

%token SCHEMA "schema" ODATA "odata" OPENAPI "openapi"
%token TABLE "table" CSV "csv" KEY "key" VALUE "value"
%token MAP "map" FROM "from" AS "as" TO "to" CHECK "check" GENERATED "generated" WHERE "where"
%token CREATE "create" UPDATE "update" UPSERT "upsert" BY "by"
%token FLOW "flow" TRIGGER "trigger" WEBHOOK "webhook" POLL "poll" SCHEDULE "schedule"
%token EVERY "every" SINCE "since" WRITE "write" WITH "with" ONE "one" CHANGESET "changeset"
%token IDEMPOTENT "idempotent" RETRY "retry" BACKOFF "backoff"
%token GROUP "group" OF "of"
%token DEDUP "dedup"
%token REF "ref" BULK "bulk"
%token IF "if" THEN "then" ELSE "else" MATCH "match" CASE "case"
%token AND "and" OR "or" NOT "not" TRUE "true" FALSE "false" NUL "null"
%token CONCAT "++" QQ "??" EQ "==" NE "!=" LE "<=" GE ">=" ARROW "=>" DOTDOT ".."

%precedence IFELSE
%left OR
%left AND
%precedence NOT
%nonassoc EQ NE '<' LE '>' GE
%right QQ
%left CONCAT '+' '-'
%left '*' '/'
%precedence NEG

%type <decl> decl map_decl flow_decl
%type <qname> qname
%type <num> mode changeset group_of
%type <str> mode_key
%type <vec> items entries args args1 cases labels fitems children
%type <item> item
%type <vec> probes
%type <path> probe
%type <path> lhs group_by group_names
%type <entry> entry
%type <expr> expr postfix primary literal signed_literal
%type <mcase> case
%type <fitem> fitem
%type <child> child

%%

file:
  %empty
| file decl                      { PUSH(&ps->file->decls, $2); }
;

decl:
  SCHEMA IDENT '=' ODATA STRING  { MK($$, ast_new_schema($2, @2, SCHEMA_ODATA, $5, @5, @$)); }
| SCHEMA IDENT '=' OPENAPI STRING
                                 { MK($$, ast_new_schema($2, @2, SCHEMA_OPENAPI, $5, @5, @$)); }
| TABLE IDENT '=' CSV STRING KEY IDENT VALUE IDENT
                                 { MK($$, ast_new_csv_table($2, @2, $5, @5, $7, @7, $9, @9, @$)); }
| TABLE IDENT '=' '{' entries '}'
                                 { MK($$, ast_new_inline_table($2, @2, $5, @$)); }
| map_decl                       { $$ = $1; }
| flow_decl                      { $$ = $1; }
| error                          { $$ = NULL; }
;

qname:
  IDENT '.' IDENT                { MK($$, ast_new_qname($1, @1, $3, @3)); }
;

/* ---- tables ---- */
entries:
  %empty                         { MK($$, ast_vec_new(ast_free_entry_v)); }
| entry                          { MK($$, ast_vec_new(ast_free_entry_v)); PUSH($$, $1); }
| entries ',' entry              { $$ = $1; PUSH($$, $3); }
| entries ','                    { $$ = $1; }
;

entry:
  STRING ':' signed_literal      { MK($$, ast_new_entry($1, @1, $3)); }
| error                          { $$ = NULL; }
;

/* ---- maps ---- */
map_decl:
  MAP IDENT FROM group_of qname AS IDENT TO qname mode mode_key '{' items '}'
      { MK($$, ast_new_map($2, @2, $5, $7, @7, $9, (ast_map_mode)$10, @10, $11, @11, $13, @$));
        $$->group = $4;
        $$->group_loc = @4; }
| MAP IDENT FROM group_of qname TO qname mode mode_key '{' items '}'
      { diag_error(ps->diag, @5, "missing 'as NAME' after the source type (the name the map's expressions use for the record)");
        MK($$, ast_new_map($2, @2, $5, NULL, @5, $7, (ast_map_mode)$8, @8, $9, @9, $11, @$));
        $$->group = $4;
        $$->group_loc = @4; }
;

/* `from group of T`: the map reads the rows a `group by` poll joined, as a list */
group_of:
  %empty                         { $$ = 0; }
| GROUP OF                       { $$ = 1; }
;

mode:
  %empty                         { $$ = MODE_CREATE; }
| CREATE                         { $$ = MODE_CREATE; }
| UPDATE                         { $$ = MODE_UPDATE; }
| UPSERT                         { $$ = MODE_UPSERT; }
;

mode_key:
  %empty                         { $$ = NULL; }
| BY IDENT                       { $$ = $2; @$ = @2; }
;

items:
  %empty                         { MK($$, ast_vec_new(ast_free_item_v)); }
| items item                     { $$ = $1; PUSH($$, $2); }
| items IDENT CREATE '{'
      { /* the lexer opened this block: name it for the end-of-file hint */
        for (int k = 0; k < ps->nopen && k < MAPC_MAX_OPEN_BLOCKS; k++)
            if (ps->open[k].start == @4.start)
                ps->open_kind[k] = "on create";
      }
  items '}'
      { /* `on create { ... }`: 'on' is a keyword only here (a field may be called on) */
        $$ = $1;
        mapc_loc kw = ast_span(@2, @3);
        if (strcmp($2, "on"))
            diag_error(ps->diag, @2, "'%s create { ... }' is not an item group; did you mean "
                       "'on create'?", $2);
        free($2);
        for (size_t k = 0; k < $6->n; k++) {
            const ast_item *in = $6->items[k];
            if (in->kind == AI_GROUP && !in->on_create) {
                diag_error(ps->diag, in->loc, "'on create' groups do not nest");
                diag_note(ps->diag, kw, "inside this one");
            }
        }
        if (!ast_items_add_group($$, $6, kw))
            YYNOMEM; }
;

item:
  lhs '=' expr                   { MK($$, ast_new_assign($1, $3, @$)); }
| lhs EQ expr
      { diag_error(ps->diag, @2, "'==' compares; use '=' to assign a field");
        MK($$, ast_new_assign($1, $3, @$)); }
| GENERATED lhs                  { MK($$, ast_new_generated($2, @$)); }
| CHECK expr ':' STRING          { MK($$, ast_new_check($2, $4, @4, @$)); }
| CHECK expr STRING
      { diag_error(ps->diag, @3, "missing ':' between the check's condition and its message");
        MK($$, ast_new_check($2, $3, @3, @$)); }
| CHECK expr '=' expr ':' STRING
      { diag_error(ps->diag, @3, "'=' assigns; use '==' to compare in a check");
        ast_expr *cond;
        MK(cond, ast_new_binary(OP_EQ, $2, $4, ast_span(@2, @4)));
        MK($$, ast_new_check(cond, $6, @6, @$)); }
| WHERE expr                     { char *text = where_text(ps, @2);
                                   if (!text) { ast_free_expr($2); YYNOMEM; }
                                   MK($$, ast_new_where($2, text, @$)); }
| WHERE expr ':' STRING
      { diag_error(ps->diag, ast_span(@3, @4), "a where takes no message: a record it leaves out "
                   "is not an error (a check fails a record with a message)");
        free($4);
        char *text = where_text(ps, @2);
        if (!text) { ast_free_expr($2); YYNOMEM; }
        MK($$, ast_new_where($2, text, ast_span(@1, @2))); }
| WHERE expr '=' expr
      { diag_error(ps->diag, @3, "'=' assigns; use '==' to compare in a where");
        ast_expr *cond;
        MK(cond, ast_new_binary(OP_EQ, $2, $4, ast_span(@2, @4)));
        char *text = where_text(ps, cond->loc);
        if (!text) { ast_free_expr(cond); YYNOMEM; }
        MK($$, ast_new_where(cond, text, @$)); }
| lhs '=' error                  { ast_free_path($1); $$ = NULL; }
| error                          { $$ = NULL; }
;

lhs:
  IDENT                          { MK($$, ast_new_path($1, @1)); }
| lhs '.' IDENT                  { MK($$, ast_path_append($1, $3, @3)); }
;

/* ---- flows ---- */
flow_decl:
  FLOW IDENT '{' fitems '}'      { MK($$, ast_new_flow($2, @2, $4, @$)); }
;

fitems:
  %empty                         { MK($$, ast_vec_new(ast_free_fitem_v)); }
| fitems fitem                   { $$ = $1; PUSH($$, $2); }
;

fitem:
  TRIGGER WEBHOOK STRING         { MK($$, ast_new_webhook($3, @3, @$)); }
| TRIGGER POLL qname EVERY DURATION group_by
                                 { $$ = ast_new_poll($3, $5, @5, NULL, @5, @$);
                                   if (!$$) { ast_free_path($6); YYNOMEM; }
                                   $$->group_by = $6; }
| TRIGGER POLL qname EVERY DURATION SINCE IDENT group_by
                                 { $$ = ast_new_poll($3, $5, @5, $7, @7, @$);
                                   if (!$$) { ast_free_path($8); YYNOMEM; }
                                   $$->group_by = $8; }
| TRIGGER SCHEDULE EVERY DURATION
                                 { MK($$, ast_new_schedule($4, @4, NULL, @4, @$)); }
| TRIGGER SCHEDULE STRING        { MK($$, ast_new_schedule(NULL, @3, $3, @3, @$)); }
| WRITE qname BY IDENT children changeset
                                 { MK($$, ast_new_write($2, $4, @4, $5, $6, @$)); }
| WRITE qname AS BULK IDENT BY IDENT
                                 { MK($$, ast_new_bulk_write($2, $5, @5, $7, @7, @$)); }
| IDEMPOTENT BY IDENT            { MK($$, ast_new_idempotent($3, @3, @$)); }
| DEDUP BY probes                { MK($$, ast_new_dedup($3, @$)); }
| RETRY INT                      { MK($$, ast_new_retry($2, @2, NULL, NULL, @2, @$)); }
| RETRY INT BACKOFF DURATION DOTDOT DURATION
                                 { MK($$, ast_new_retry($2, @2, $4, $6, ast_span(@4, @6), @$)); }
| error                          { $$ = NULL; }
;

/* `group by F, G`: the names are kept as a path (names[] with their locations) */
group_by:
  %empty                         { $$ = NULL; }
| GROUP BY group_names           { $$ = $3; }
;

group_names:
  IDENT                          { MK($$, ast_new_path($1, @1)); }
| group_names ',' IDENT          { MK($$, ast_path_append($1, $3, @3)); }
;

children:
  %empty                         { MK($$, ast_vec_new(ast_free_child_v)); }
| children child                 { $$ = $1; PUSH($$, $2); }
;

child:
  WITH qname FROM expr BY IDENT  { MK($$, ast_new_child($2, $4, $6, @6, @$)); }
;

changeset:
  %empty                         { $$ = 0; }
| AS ONE CHANGESET               { $$ = 1; }
;

/* `dedup by P, A + B`: each probe is a path whose names are its fields */
probes:
  probe                          { MK($$, ast_vec_new(ast_free_path_v)); PUSH($$, $1); }
| probes ',' probe               { $$ = $1; PUSH($$, $3); }
;

probe:
  IDENT                          { MK($$, ast_new_path($1, @1)); }
| probe '+' IDENT                { MK($$, ast_path_append($1, $3, @3)); }
;

/* ---- expressions ---- */
expr:
  postfix                        { $$ = $1; }
| IF expr THEN expr ELSE expr %prec IFELSE
                                 { MK($$, ast_new_if($2, $4, $6, @$)); }
| '-' expr %prec NEG             { MK($$, ast_new_unary(OP_NEG, $2, @$)); }
| NOT expr                       { MK($$, ast_new_unary(OP_NOT, $2, @$)); }
| expr '+' expr                  { MK($$, ast_new_binary(OP_ADD, $1, $3, @$)); }
| expr '-' expr                  { MK($$, ast_new_binary(OP_SUB, $1, $3, @$)); }
| expr '*' expr                  { MK($$, ast_new_binary(OP_MUL, $1, $3, @$)); }
| expr '/' expr                  { MK($$, ast_new_binary(OP_DIV, $1, $3, @$)); }
| expr CONCAT expr               { MK($$, ast_new_binary(OP_CONCAT, $1, $3, @$)); }
| expr EQ expr                   { MK($$, ast_new_binary(OP_EQ, $1, $3, @$)); }
| expr NE expr                   { MK($$, ast_new_binary(OP_NE, $1, $3, @$)); }
| expr '<' expr                  { MK($$, ast_new_binary(OP_LT, $1, $3, @$)); }
| expr LE expr                   { MK($$, ast_new_binary(OP_LE, $1, $3, @$)); }
| expr '>' expr                  { MK($$, ast_new_binary(OP_GT, $1, $3, @$)); }
| expr GE expr                   { MK($$, ast_new_binary(OP_GE, $1, $3, @$)); }
| expr AND expr                  { MK($$, ast_new_binary(OP_AND, $1, $3, @$)); }
| expr OR expr                   { MK($$, ast_new_binary(OP_OR, $1, $3, @$)); }
| expr QQ expr                   { MK($$, ast_new_binary(OP_COALESCE, $1, $3, @$)); }
;

postfix:
  primary                        { $$ = $1; }
| postfix '.' IDENT              { MK($$, ast_new_field($1, $3, @3, @$)); }
| postfix '[' expr ']'           { MK($$, ast_new_index($1, $3, @$)); }
;

primary:
  literal                        { $$ = $1; }
| IDENT                          { MK($$, ast_new_name($1, @1)); }
| IDENT '(' args ')'             { MK($$, ast_new_call($1, @1, $3, @$)); }
| '(' expr ')'                   { $$ = $2; $$->loc = @$; }
| MATCH expr '{' cases '}'       { MK($$, ast_new_match($2, $4, NULL, @$)); }
| REF qname BY IDENT '(' expr ')' '.' IDENT
                                 { MK($$, ast_new_ref($2, $4, @4, $6, $9, @9, @$)); }
| MATCH expr '{' cases ELSE ARROW expr '}'
                                 { MK($$, ast_new_match($2, $4, $7, @$)); }
;

literal:
  STRING                         { MK($$, ast_new_literal(AE_STRING, $1, @$)); }
| INT                            { MK($$, ast_new_literal(AE_INT, $1, @$)); }
| DECIMAL                        { MK($$, ast_new_literal(AE_DECIMAL, $1, @$)); }
| DATE                           { MK($$, ast_new_literal(AE_DATE, $1, @$)); }
| TRUE                           { MK($$, ast_new_bool(true, @$)); }
| FALSE                          { MK($$, ast_new_bool(false, @$)); }
| NUL                            { MK($$, ast_new_null(@$)); }
;

args:
  %empty                         { MK($$, ast_vec_new(ast_free_expr_v)); }
| args1                          { $$ = $1; }
;

args1:
  expr                           { MK($$, ast_vec_new(ast_free_expr_v)); PUSH($$, $1); }
| args1 ',' expr                 { $$ = $1; PUSH($$, $3); }
;

cases:
  case                           { MK($$, ast_vec_new(ast_free_case_v)); PUSH($$, $1); }
| cases case                     { $$ = $1; PUSH($$, $2); }
;

case:
  CASE labels ARROW expr         { MK($$, ast_new_case($2, $4, @$)); }
;

labels:
  signed_literal                 { MK($$, ast_vec_new(ast_free_expr_v)); PUSH($$, $1); }
| labels ',' signed_literal      { $$ = $1; PUSH($$, $3); }
;

signed_literal:
  literal                        { $$ = $1; }
| '-' INT                        { MK($$, ast_new_negative(AE_INT, $2, @$)); }
| '-' DECIMAL                    { MK($$, ast_new_negative(AE_DECIMAL, $2, @$)); }
;

%%

/* Bison's "verbose" message, "syntax error, unexpected X[, expecting A or B ...]" with the
 * expected tokens listed when there are at most 4 of them, except that 'where' does not count
 * against that limit (a map item may start with a name, check, generated or where). */
static int yyreport_syntax_error(const yypcontext_t *ctx, mapc_parse_state *ps, void *scanner)
{
    enum { MAXEXP = 8 };
    yysymbol_kind_t exp[MAXEXP];
    int n = yypcontext_expected_tokens(ctx, exp, MAXEXP);
    if (n < 0)
        n = 0;
    int counted = 0;
    for (int i = 0; i < n; i++)
        counted += exp[i] != YYSYMBOL_WHERE;
    if (counted > 4 || n == MAXEXP)
        n = 0;
    char msg[512];
    size_t len = (size_t)snprintf(msg, sizeof msg, "syntax error");
    yysymbol_kind_t tok = yypcontext_token(ctx);
    for (int i = -1; tok != YYSYMBOL_YYEMPTY && i < n && len < sizeof msg; i++) {
        const char *name = yysymbol_name(i < 0 ? tok : exp[i]);
        size_t nl = strlen(name);
        if (nl >= 2 && name[0] == '"' && name[nl - 1] == '"') {   /* "name" -> name */
            name++;
            nl -= 2;
        }
        len += (size_t)snprintf(msg + len, sizeof msg - len, "%s%.*s",
                                i < 0 ? ", unexpected " : i == 0 ? ", expecting " : " or ",
                                (int)nl, name);
    }
    mapc_yyerror(yypcontext_location(ctx), ps, scanner, msg);
    return 0;
}

static void mapc_yyerror(mapc_loc *loc, mapc_parse_state *ps, void *scanner, const char *msg)
{
    (void)scanner;
    if (ps->nomem || (ps->lex_error && loc->start == ps->lex_error_at))
        return;
    /* '==' after a field name is only accepted to say it is the wrong operator */
    const char *eq = strstr(msg, "expecting == or ");
    if (eq)
        diag_error(ps->diag, *loc, "%.*sexpecting %s", (int)(eq - msg), msg,
                   eq + strlen("expecting == or "));
    else
        diag_error(ps->diag, *loc, "%s", msg);
    if (ps->nopen == 0 && !strstr(msg, "expecting") && !strstr(msg, "end of file") &&
        !strstr(msg, "unexpected '}'"))
        diag_note(ps->diag, *loc, "a .map file holds schema, table, map and flow declarations");
    if (ps->nopen > 0 && strstr(msg, "unexpected end of file")) {
        int i = ps->nopen <= MAPC_MAX_OPEN_BLOCKS ? ps->nopen - 1 : MAPC_MAX_OPEN_BLOCKS - 1;
        const char *kind = ps->open_kind[i];
        diag_note(ps->diag, ps->open[i], "unterminated %s%sblock? it starts here", kind,
                  *kind ? " " : "");
    }
}

/* The source text of a where's condition, for the reason a filtered record is logged with:
 * comments dropped, runs of white space (line breaks too) collapsed to one blank. */
static char *where_text(mapc_parse_state *ps, mapc_loc at)
{
    const diag_source *src = diag_get_source(ps->diag, ps->file_id);
    size_t end = src && at.end <= src->len ? at.end : 0, n = 0;
    size_t start = at.start < end ? at.start : end;
    char *out = malloc(end - start + 1);
    if (!out)
        return NULL;
    char quote = 0;
    for (size_t i = start; i < end; i++) {
        char ch = src->text[i];
        if (quote) {
            out[n++] = ch;
            if (ch == '\\' && i + 1 < end)
                out[n++] = src->text[++i];
            else if (ch == quote)
                quote = 0;
            continue;
        }
        if (ch == '#') {                          /* a comment runs to the end of the line */
            while (i + 1 < end && src->text[i + 1] != '\n')
                i++;
            continue;
        }
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
            if (n && out[n - 1] != ' ')
                out[n++] = ' ';
            continue;
        }
        if (ch == '"' || ch == '`')
            quote = ch;
        out[n++] = ch;
    }
    while (n && out[n - 1] == ' ')
        n--;
    out[n] = 0;
    return out;
}

int mapc_parse(diag_ctx *d, int file_id, ast_file **out)
{
    *out = NULL;
    const diag_source *src = diag_get_source(d, file_id);
    if (!src)
        return -2;
    mapc_parse_state ps;
    memset(&ps, 0, sizeof ps);
    ps.diag = d;
    ps.file_id = file_id;
    ps.file = ast_new_file(file_id);
    if (!ps.file)
        return -2;
    yyscan_t scanner;
    if (mapc_yylex_init_extra(&ps, &scanner)) {
        ast_free_file(ps.file);
        return -2;
    }
    int before = d->nerrors;
    YY_BUFFER_STATE buf = mapc_yy_scan_bytes(src->text, (int)src->len, scanner);
    int rc = buf ? mapc_yyparse(&ps, scanner) : 2;
    if (buf)
        mapc_yy_delete_buffer(buf, scanner);
    mapc_yylex_destroy(scanner);
    *out = ps.file;
    if (rc == 2 || ps.nomem)
        return -2;
    return d->nerrors > before || rc != 0 ? -1 : 0;
}
