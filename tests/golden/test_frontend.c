/* test_frontend.c - the front end as a library (frontend.h): diagnostics captured through the
 * sink as structured messages, the checked AST with types on every expression, resolved
 * schema properties and linked maps, plus the suggestion and diagnostic-format helpers.
 *
 *   test_frontend TOP     (TOP = the repository root: fixture schemas are read from
 *                          TOP/tests/golden/schemas) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtins.h"
#include "check.h"
#include "frontend.h"
#include "suggest.h"
#include "testhelp.h"

typedef struct captured {
    int n;
    diag_level level[16];
    int line[16], column[16], caret[16];
    char text[16][256];
    char formatted[4096];
} captured;

static void capture(void *user, const diag_message *m)
{
    captured *c = user;
    if (c->n < 16) {
        c->level[c->n] = m->level;
        c->line[c->n] = m->line;
        c->column[c->n] = m->column;
        c->caret[c->n] = m->caret_len;
        snprintf(c->text[c->n], sizeof c->text[c->n], "%s", m->text);
    }
    char *f = diag_format(m);
    if (f) {
        size_t len = strlen(c->formatted);
        snprintf(c->formatted + len, sizeof c->formatted - len, "%s", f);
        free(f);
    }
    c->n++;
}

/* Walk an expression tree and count nodes without a resolved type. */
static int untyped(const ast_expr *e)
{
    if (!e)
        return 0;
    int n = 0;
    if (e->type.kind == MT_ERROR && e->ref != REF_TABLE && e->ref != REF_FIELDARG)
        n++;
    n += untyped(e->a) + untyped(e->b) + untyped(e->c);
    if (e->kind == AE_CALL)
        for (size_t i = 0; i < e->args.n; i++)
            n += untyped(e->args.items[i]);
    if (e->kind == AE_MATCH)
        for (size_t i = 0; i < e->args.n; i++)
            n += untyped(((const ast_case *)e->args.items[i])->value);
    return n;
}

static const char *program =
    "schema d365    = odata   \"schemas/fo.xml\"\n"
    "schema clarity = openapi \"schemas/cef.json\"\n"
    "table Wh = { \"WEB-US\": \"WH-01\" }\n"
    "map Header from clarity.SalesOrder as o to d365.SalesOrderHeaderV2 {\n"
    "    dataAreaId                    = \"usmf\"\n"
    "    SalesOrderNumber              = \"WEB-\" ++ text(o.ID)\n"
    "    OrderingCustomerAccountNumber = required(o.AccountKey)\n"
    "    InvoiceCustomerAccountNumber  = o.AccountKey ?? \"X\"\n"
    "    CurrencyCode                  = upper(o.CurrencyKey ?? \"usd\")\n"
    "    TotalDiscountPercentage       = sum(o.Discounts.Value)\n"
    "    DefaultShippingWarehouseId    = Wh[\"WEB-US\"]\n"
    "    IsDeliveryAddressPrivate      = \"Yes\"\n"
    "    check o.Totals.Total ?? 0 >= 0 : \"negative\"\n"
    "}\n"
    "map Line from clarity.SalesItem as i to d365.SalesOrderLine {\n"
    "    dataAreaId = \"usmf\"\n"
    "    generated InventoryLotId\n"
    "    SalesOrderNumber = \"WEB-\" ++ text(i.MasterID)\n"
    "    ItemNumber = required(i.Sku)\n"
    "}\n"
    "flow F {\n"
    "    trigger webhook \"SalesOrder.Created\"\n"
    "    write d365.SalesOrderHeadersV2 by Header\n"
    "      with d365.SalesOrderLines from o.SalesItems by Line as one changeset\n"
    "    retry 3 backoff 1s..1m\n"
    "}\n";

static const ast_item *item_named(const ast_decl *m, const char *field)
{
    for (size_t i = 0; i < m->items.n; i++) {
        const ast_item *it = m->items.items[i];
        if (it->kind == AI_ASSIGN && !strcmp(it->path->names[0], field))
            return it;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_frontend TOP\n");
        return 2;
    }
    char name[4096];
    snprintf(name, sizeof name, "%s/tests/golden/api.map", argv[1]);

    /* ---- a clean program: checked and typed */
    captured cap;
    memset(&cap, 0, sizeof cap);
    diag_ctx d;
    diag_init(&d, capture, &cap, 20);
    mapc_program *p = mapc_program_new(&d);
    CHECK(p != NULL, "program created");
    CHECK_INT(mapc_program_add_source(p, name, program, strlen(program)), 0, "parses");
    CHECK_INT(mapc_program_check(p), 0, "checks clean");
    CHECK_INT(cap.n, 0, "no diagnostics");
    if (cap.n)
        printf("# %s", cap.formatted);

    const ast_decl *h = mapc_program_find_map(p, "Header");
    const ast_decl *l = mapc_program_find_map(p, "Line");
    const ast_decl *f = mapc_program_find_flow(p, "F");
    CHECK(h && l && f, "maps and flow found");
    if (h && l && f) {
        CHECK(h->src_type && !strcmp(h->src_type->name, "SalesOrder"), "source type resolved");
        CHECK(h->dst_type && !strcmp(h->dst_type->name, "SalesOrderHeaderV2"),
              "target type resolved");
        int bad = 0;
        for (size_t i = 0; i < h->items.n; i++) {
            const ast_item *it = h->items.items[i];
            bad += untyped(it->value);
            if (it->kind == AI_ASSIGN)
                bad += !it->props || !it->props[0];
        }
        CHECK_INT(bad, 0, "every expression typed, every target resolved");
        const ast_item *son = item_named(h, "SalesOrderNumber");
        CHECK(son && son->value->type.kind == MT_STRING && !son->value->type.optional,
              "'WEB-' ++ text(o.ID) is a present string");
        const ast_item *inv = item_named(h, "InvoiceCustomerAccountNumber");
        CHECK(inv && inv->value->kind == AE_BINARY && inv->value->a->ref == REF_PROP &&
                  inv->value->a->type.optional && !inv->value->type.optional,
              "a ?? b: optional field, present result");
        const ast_item *cur = item_named(h, "CurrencyCode");
        CHECK(cur && cur->value->ref == REF_BUILTIN && cur->value->builtin &&
                  !strcmp(cur->value->builtin->name, "upper"),
              "builtin call linked to its table entry");
        const ast_item *sum = item_named(h, "TotalDiscountPercentage");
        CHECK(sum && sum->value->args.n == 1 &&
                  ((ast_expr *)sum->value->args.items[0])->ref == REF_PROJECT &&
                  ((ast_expr *)sum->value->args.items[0])->type.kind == MT_LIST,
              "o.Discounts.Value is a projection typed as a list");
        const ast_item *wh = item_named(h, "DefaultShippingWarehouseId");
        CHECK(wh && wh->value->ref == REF_LOOKUP && wh->value->table &&
                  !strcmp(wh->value->table->name, "Wh") && wh->value->type.optional,
              "table lookup linked to its table, optional");
        const ast_item *st = item_named(h, "IsDeliveryAddressPrivate");
        CHECK(st && st->props && st->props[0]->type.kind == SK_ENUM,
              "enum target property resolved");
        const ast_fitem *w = NULL;
        for (size_t i = 0; i < f->fitems.n; i++)
            if (((ast_fitem *)f->fitems.items[i])->kind == FI_WRITE)
                w = f->fitems.items[i];
        CHECK(w && w->map_decl == h && w->children.n == 1 &&
                  ((ast_child *)w->children.items[0])->map_decl == l && w->changeset,
              "flow write linked to its maps");
        const ast_fitem *r = f->fitems.items[f->fitems.n - 1];
        CHECK(r->kind == FI_RETRY && r->retries == 3 && r->backoff_min_ms == 1000 &&
                  r->backoff_max_ms == 60000,
              "retry and backoff resolved to numbers");
    }
    mapc_program_free(p);
    diag_cleanup(&d);

    /* ---- a broken program: structured diagnostics through the sink */
    memset(&cap, 0, sizeof cap);
    diag_init(&d, capture, &cap, 20);
    p = mapc_program_new(&d);
    const char *bad =
        "schema d365 = odata \"schemas/fo.xml\"\n"
        "schema clarity = openapi \"schemas/cef.json\"\n"
        "map M from clarity.Account as a to d365.CustomerV3 update {\n"
        "    dataAreaId = \"usmf\"\n"
        "    CustomerAccount = required(a.CustomKey)\n"
        "    \xc3\xa9 = 1\n"
        "}\n";
    CHECK_INT(mapc_program_add_source(p, name, bad, strlen(bad)), -1, "syntax error reported");
    CHECK_INT(cap.n, 2, "two diagnostics: the character, then the syntax error");
    CHECK_INT(cap.level[0], DIAG_ERROR, "an error");
    CHECK_INT(cap.line[0], 6, "line 6");
    CHECK_INT(cap.column[0], 5, "column 5");
    CHECK_INT(cap.caret[0], 1, "one character underlined");
    CHECK_STR(cap.text[0], "unexpected character '\xc3\xa9'", "the message");
    CHECK_INT(cap.column[1], 7, "the '=' after it is at column 7");
    mapc_program_free(p);
    diag_cleanup(&d);

    /* columns count characters, carets span the expression */
    memset(&cap, 0, sizeof cap);
    diag_init(&d, capture, &cap, 20);
    p = mapc_program_new(&d);
    const char *utf =
        "schema d365 = odata \"schemas/fo.xml\"\n"
        "schema clarity = openapi \"schemas/cef.json\"\n"
        "map M from clarity.Account as a to d365.CustomerV3 update {\n"
        "    dataAreaId = \"usmf\"\n"
        "    CustomerAccount = required(a.CustomKey)\n"
        "    OrganizationName = \"\xc3\xa9t\xc3\xa9\" ++ a.CreditLimit\n"
        "}\n";
    CHECK_INT(mapc_program_add_source(p, name, utf, strlen(utf)), 0, "parses");
    CHECK_INT(mapc_program_check(p), -1, "type error found");
    CHECK_INT(cap.n, 1, "one diagnostic");
    CHECK_INT(cap.column[0], 33, "column after a UTF-8 string counts characters");
    CHECK_INT(cap.caret[0], 13, "caret spans a.CreditLimit");
    CHECK(strstr(cap.formatted, "api.map:6:33: error: '++' joins strings") != NULL,
          "gcc-style first line");
    CHECK(strstr(cap.formatted, "\n      |                                 ^~~~~~~~~~~~~\n") != NULL,
          "caret line");
    char sum[64];
    CHECK_STR(diag_summary(&d, sum, sizeof sum), "1 error", "summary");
    mapc_program_free(p);
    diag_cleanup(&d);

    /* `on create` groups and `dedup by` probes in the checked tree */
    memset(&cap, 0, sizeof cap);
    diag_init(&d, capture, &cap, 20);
    p = mapc_program_new(&d);
    const char *c360 =
        "schema d365 = odata \"schemas/fo.xml\"\n"
        "schema clarity = openapi \"schemas/cef.json\"\n"
        "map C from clarity.Account as a to d365.CustomerV3 upsert {\n"
        "    dataAreaId = \"usmf\"\n"
        "    CustomerAccount = required(a.CustomKey)\n"
        "    on create {\n"
        "        CustomerGroupId = \"30\"\n"
        "        SalesCurrencyCode = \"USD\"\n"
        "    }\n"
        "    PrimaryContactEmail = a.Email\n"
        "    AddressZipCode = a.Address.PostalCode\n"
        "    on create { OrganizationName = a.Name }\n"
        "}\n"
        "flow F {\n"
        "    trigger poll clarity.Accounts every 5m\n"
        "    write d365.CustomersV3 by C\n"
        "    dedup by PrimaryContactEmail, OrganizationName + AddressZipCode\n"
        "}\n";
    CHECK_INT(mapc_program_add_source(p, name, c360, strlen(c360)), 0, "on create / dedup parse");
    CHECK_INT(mapc_program_check(p), 0, "on create / dedup check clean");
    const ast_decl *cm = mapc_program_find_map(p, "C");
    const ast_decl *cf = mapc_program_find_flow(p, "F");
    CHECK(cm && cf, "map and flow found");
    if (cm && cf) {
        /* the groups' items are flattened into items, in source order, marked on_create */
        static const char *const names[] = {"dataAreaId", "CustomerAccount", "CustomerGroupId",
                                             "SalesCurrencyCode", "PrimaryContactEmail",
                                             "AddressZipCode", "OrganizationName"};
        static const int oc[] = {0, 0, 1, 1, 0, 0, 1};
        int wrong = cm->items.n != 7;
        for (size_t i = 0; i < cm->items.n && i < 7; i++) {
            const ast_item *it = cm->items.items[i];
            wrong += it->kind != AI_ASSIGN || strcmp(it->path->names[0], names[i]) ||
                   it->on_create != oc[i];
        }
        CHECK_INT(wrong, 0, "7 items in source order, 3 of them on_create");
        CHECK_INT((int)cm->create_groups.n, 2, "two groups recorded");
        const ast_item *g2 = cm->create_groups.n == 2 ? cm->create_groups.items[1] : NULL;
        const ast_item *org = item_named(cm, "OrganizationName");
        CHECK(g2 && g2->kind == AI_GROUP && org && org->group_loc.start == g2->loc.start,
              "an item's group_loc is its group's 'on create'");
        const ast_fitem *dd = NULL;
        for (size_t i = 0; i < cf->fitems.n; i++)
            if (((ast_fitem *)cf->fitems.items[i])->kind == FI_DEDUP)
                dd = cf->fitems.items[i];
        const ast_path *p0 = dd && dd->probes.n == 2 ? dd->probes.items[0] : NULL;
        const ast_path *p1 = dd && dd->probes.n == 2 ? dd->probes.items[1] : NULL;
        CHECK(p0 && p1 && p0->n == 1 && !strcmp(p0->names[0], "PrimaryContactEmail") &&
                  p1->n == 2 && !strcmp(p1->names[0], "OrganizationName") &&
                  !strcmp(p1->names[1], "AddressZipCode"),
              "dedup by: two probes, the second of two fields");
    }
    mapc_program_free(p);
    diag_cleanup(&d);

    /* the error cap */
    memset(&cap, 0, sizeof cap);
    diag_init(&d, capture, &cap, 2);
    for (int i = 0; i < 5; i++)
        diag_error(&d, MAPC_NOLOC, "e%d", i);
    CHECK_INT(d.nerrors, 2, "two errors delivered");
    CHECK_INT(cap.n, 3, "then one fatal");
    CHECK_INT(cap.level[2], DIAG_FATAL, "fatal level");
    CHECK_STR(cap.text[2], "too many errors, stopping", "fatal text");
    diag_cleanup(&d);

    /* suggestions */
    mapc_suggest s;
    suggest_init(&s, "salesordernumber");
    suggest_offer(&s, "SalesOrderLines");
    suggest_offer(&s, "SalesOrderNumber");
    CHECK_STR(suggest_result(&s), "SalesOrderNumber", "case-insensitive suggestion");
    suggest_init(&s, "Cty");
    suggest_offer(&s, "City");
    suggest_offer(&s, "Country");
    CHECK_STR(suggest_result(&s), "City", "one edit");
    suggest_init(&s, "xyz");
    suggest_offer(&s, "City");
    CHECK(suggest_result(&s) == NULL, "nothing close");
    CHECK_INT(suggest_distance("Sku", "SKU"), 1, "case-only differences are cheap");
    CHECK_INT(suggest_distance("ab", "ba"), 1, "a swap is one edit");

    /* builtin table */
    CHECK(mapc_builtin_find("required") && mapc_builtin_find("merge") && !mapc_builtin_find("x"),
          "builtin lookup");
    char pb[200];
    CHECK(mapc_pattern_error("yyyy-MM-dd'T'HH:mm:ss", pb, sizeof pb) == NULL, "pattern ok");
    CHECK(mapc_pattern_error("yyyy-MM-dd hh", pb, sizeof pb) != NULL, "pattern hh refused");
    return test_done();
}
