/* d365_rules.c - what makes the D365 emulator more than a generic OData store: the seeded
 * catalog (seed.h: the same customers and items as the Clarity emulator), number sequences,
 * the business rules integrations hit (unknown customer or item, credit limit, line amounts,
 * defaults taken from the customer and the item, on-hand reservation) and life after the order
 * (ship -> packing slip with tracking number, invoice -> invoice header and lines, return ->
 * return order).  Everything here runs with srv->mu held inside the caller's transaction. */
#include "d365_int.h"
#include "sb_http.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---------------------------------------------------------------- helpers */

static const schema_type *type_of_set(d365_server *srv, const char *set)
{
    const char *tn = schema_type_for_set(srv->sch, set);
    return tn ? schema_find_type(srv->sch, tn) : NULL;
}

static void write_error(d365_resp *r, const schema_type *t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void write_error(d365_resp *r, const schema_type *t, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    d365_error(r, 400, D365_T_WRITE, "Write failed for table row of type '%sEntity'. Infolog: "
               "Error: %s.", t ? t->name : "?", msg);
}

static void today_noon(char *out, size_t n, int plus_days)
{
    long long now = (long long)time(NULL);
    long long day = now / 86400 + plus_days;
    d365_format_datetime(out, n, day * 86400 + 12 * 3600);
}

static void now_text(char *out, size_t n)
{
    d365_format_datetime(out, n, (long long)time(NULL));
}

/* Set a field by (possibly invalid) JSON value when the type has it and the value fits. */
static void put(const schema_type *t, json_t *ent, const char *name, json_t *v)
{
    const schema_prop *p = schema_type_find_prop(t, name);
    if (p && v) {
        char msg[256];
        json_t *cv = d365_coerce(p, v, msg, sizeof msg);
        if (cv)
            json_object_set_new(ent, name, cv);
    }
    json_decref(v);
}

static bool empty_str(const json_t *ent, const char *name)
{
    return d365_str(ent, name)[0] == '\0';
}

static bool empty_date(const json_t *ent, const char *name)
{
    const char *s = d365_str(ent, name);
    return !*s || strcmp(s, D365_EMPTY_DATE) == 0 || strcmp(s, D365_EMPTY_DATETIME) == 0;
}

/* Fetch one entity by its key values (given as name, value string pairs, NULL-terminated). */
static json_t *fetch(d365_server *srv, const char *set, long long *ver, ...)
{
    const schema_type *t = type_of_set(srv, set);
    if (!t)
        return NULL;
    json_t *k = json_object();
    va_list ap;
    va_start(ap, ver);
    const char *name;
    while ((name = va_arg(ap, const char *))) {
        const char *val = va_arg(ap, const char *);
        json_object_set_new(k, name, json_string(val ? val : ""));
    }
    va_end(ap);
    char *key = d365_key_of(t, k);
    json_decref(k);
    json_t *ent = NULL;
    if (!key || d365_store_get(srv, set, key, &ent, ver) != 1)
        ent = NULL;
    free(key);
    return ent;
}

static int store_back(d365_server *srv, const char *set, const json_t *ent)
{
    const schema_type *t = type_of_set(srv, set);
    char *key = t ? d365_key_of(t, ent) : NULL;
    int rc = key ? d365_store_update(srv, set, key, ent, NULL) : -1;
    free(key);
    return rc;
}

char *d365_next_number(d365_server *srv, const char *field, const char *company)
{
    static const struct { const char *field, *fmt; } seqs[] = {
        { "SalesOrderNumber", "SO-%06lld" },
        { "CustomerAccount", "CUS-%06lld" },
        { "InventoryLotId", "LOT%09lld" },
        { "JournalBatchNumber", "JB-%06lld" },
        { "ReturnOrderNumber", "RET-%06lld" },
        { "ReturnInventoryLotId", "RLOT%08lld" },
        { "RMANumber", "RMA-%06lld" },
        { "PartyNumber", "%09lld" },
        { "PackingSlipNumber", "PS-%06lld" },
        { "InvoiceNumber", "INV-%06lld" },
        { "LedgerVoucher", "LV-%06lld" },
    };
    for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
        if (strcmp(seqs[i].field, field) != 0)
            continue;
        char name[96];
        snprintf(name, sizeof name, "%s:%s", field, company ? company : "");
        long long n = d365_store_next(srv, name);
        if (n < 0)
            return NULL;
        char buf[48];
        snprintf(buf, sizeof buf, seqs[i].fmt, n);
        return strdup(buf);
    }
    return NULL;
}

json_t *d365_rules_insert(d365_server *srv, const char *set, json_t *fields)
{
    const schema_type *t = type_of_set(srv, set);
    json_t *ent = NULL;
    char *key = NULL;
    if (!t)
        goto out;
    ent = d365_entity_defaults(t);
    const char *k;
    json_t *v;
    json_object_foreach(fields, k, v)
        put(t, ent, k, json_incref(v));
    for (size_t i = 0; i < t->nkeys; i++) {
        if (json_is_string(json_object_get(ent, t->keys[i])) && empty_str(ent, t->keys[i])) {
            char *num = d365_next_number(srv, t->keys[i], d365_str(ent, "dataAreaId"));
            if (num)
                json_object_set_new(ent, t->keys[i], json_string(num));
            free(num);
        }
    }
    key = d365_key_of(t, ent);
    if (!key || d365_store_insert(srv, set, d365_str(ent, "dataAreaId"), key, ent) != 0) {
        json_decref(ent);
        ent = NULL;
    }
out:
    free(key);
    json_decref(fields);
    return ent;
}

/* ---------------------------------------------------------------- seeding */

static double cents(int64_t c)
{
    return (double)c / 100.0;
}

/* --extra-skus N: released products "X000001".."X<N>" in usmf (the seed's item numbers are a
 * category letter and 4 digits, none is X, so they cannot clash), each with one on-hand row in
 * the seed's first warehouse; quantities 1..500 drawn from the seed (never 0, so a sales line
 * can always reserve one). */
static void seed_extra_skus(d365_server *srv)
{
    const seed_warehouse *wh = &srv->cat->warehouses[0];
    seed_rng r;
    seed_rng_init(&r, srv->opt.seed ^ 0x51C05u);
    for (unsigned i = 1; i <= srv->opt.extra_skus; i++) {
        char item[16], name[32];
        snprintf(item, sizeof item, "X%06u", i);
        snprintf(name, sizeof name, "Bench item %u", i);
        double q = (double)seed_rng_range(&r, 1, 500);
        json_decref(d365_rules_insert(srv, "ReleasedProductsV2",
                                      json_pack("{s:s,s:s,s:s,s:s,s:f,s:s,s:s,s:s,s:s,s:s}",
                                                "dataAreaId", SEED_COMPANY, "ItemNumber", item,
                                                "SearchName", name, "ProductSearchName", name,
                                                "SalesPrice", 9.99, "SalesUnitSymbol", "ea",
                                                "InventoryUnitSymbol", "ea",
                                                "PurchaseUnitSymbol", "ea", "ProductGroupId",
                                                "Bench", "ItemModelGroupId", "FIFO")));
        json_decref(d365_rules_insert(
            srv, "WarehousesOnHandV2",
            json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:f,s:f,s:f,s:f,s:f,s:s}",
                      "dataAreaId", SEED_COMPANY, "ItemNumber", item, "ProductColorId", "",
                      "ProductConfigurationId", "", "ProductSizeId", "", "ProductStyleId", "",
                      "ProductVersionId", "", "InventorySiteId", wh->site,
                      "InventoryWarehouseId", wh->id, "OnHandQuantity", q,
                      "AvailableOnHandQuantity", q, "ReservedOnHandQuantity", 0.0,
                      "TotalAvailableQuantity", q, "AvailableOrderedQuantity", q, "ProductName",
                      name)));
    }
}

int d365_seed(d365_server *srv, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    long long n = 0;
    if ((st = d365_stmt(srv, "SELECT count(*) FROM rows")) != NULL &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    d365_stmt_done(srv, st);
    if (n > 0)
        return 0; /* an existing --data directory keeps its data */
    if (d365_store_begin(srv) < 0) {
        snprintf(err, errlen, "cannot seed: %s", sqlite3_errmsg(srv->db));
        return -1;
    }
    const seed_catalog *c = srv->cat;
    static const char *const companies[] = { "usmf", "usrt" };
    for (int ci = 0; ci < 2; ci++) {
        const char *co = companies[ci];
        /* usrt holds a few customers and items of its own (same numbers, another company) */
        size_t ncust = ci == 0 ? SEED_N_CUSTOMERS : 3;
        size_t nprod = ci == 0 ? SEED_N_PRODUCTS : 10;
        for (size_t i = 0; i < ncust; i++) {
            const seed_customer *cu = &c->customers[i];
            const seed_address *a = &cu->address;
            json_t *f = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:f,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,"
                                  "s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}",
                                  "dataAreaId", co, "CustomerAccount", cu->account,
                                  "OrganizationName", cu->name, "NameAlias", cu->name,
                                  "CustomerGroupId", cu->customer_group, "SalesCurrencyCode",
                                  cu->currency, "CreditLimit", cents(cu->credit_limit_cents),
                                  "LanguageId", cu->language, "PrimaryContactEmail", cu->email,
                                  "PrimaryContactPhone", cu->phone, "AddressStreet", a->street,
                                  "AddressCity", a->city, "AddressZipCode", a->postal_code,
                                  "AddressState", a->region, "AddressCountryRegionId", a->country3,
                                  "AddressCountryRegionISOCode", a->country2,
                                  "DeliveryAddressStreet", a->street, "DeliveryAddressCity",
                                  a->city, "DeliveryAddressZipCode", a->postal_code,
                                  "DeliveryAddressCountryRegionId", a->country3,
                                  "InvoiceAddressStreet", a->street, "InvoiceAddressCity", a->city,
                                  "InvoiceAddressZipCode", a->postal_code,
                                  "InvoiceAddressCountryRegionId", a->country3,
                                  "PartyType", "Organization", "PersonFirstName", "");
            char *party = d365_next_number(srv, "PartyNumber", "");
            if (f && party)
                json_object_set_new(f, "PartyNumber", json_string(party));
            free(party);
            json_t *e = d365_rules_insert(srv, "CustomersV3", f);
            json_decref(e);
        }
        for (size_t i = 0; i < nprod; i++) {
            const seed_product *p = &c->products[i];
            json_t *f = json_pack("{s:s,s:s,s:s,s:s,s:f,s:s,s:s,s:s,s:s,s:s,s:f,s:f}",
                                  "dataAreaId", co, "ItemNumber", p->item, "SearchName", p->name,
                                  "ProductSearchName", p->name, "SalesPrice", cents(p->price_cents),
                                  "SalesUnitSymbol", p->unit, "InventoryUnitSymbol", p->unit,
                                  "PurchaseUnitSymbol", p->unit, "ProductGroupId", p->category,
                                  "ItemModelGroupId", "FIFO", "NetProductWeight",
                                  (double)p->weight_grams / 1000.0, "UnitCost",
                                  cents(p->price_cents * 6 / 10));
            json_decref(d365_rules_insert(srv, "ReleasedProductsV2", f));
            for (size_t w = 0; w < SEED_N_WAREHOUSES; w++) {
                const seed_warehouse *wh = &c->warehouses[w];
                double q = ci == 0 ? c->on_hand[i][w] : 10;
                json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:f,s:f,s:f,s:f,s:f,"
                                      "s:s}",
                                      "dataAreaId", co, "ItemNumber", p->item, "ProductColorId", "",
                                      "ProductConfigurationId", "", "ProductSizeId", "",
                                      "ProductStyleId", "", "ProductVersionId", "",
                                      "InventorySiteId", wh->site, "InventoryWarehouseId", wh->id,
                                      "OnHandQuantity", q, "AvailableOnHandQuantity", q,
                                      "ReservedOnHandQuantity", 0.0, "TotalAvailableQuantity", q,
                                      "AvailableOrderedQuantity", q, "ProductName", p->name);
                json_decref(d365_rules_insert(srv, "WarehousesOnHandV2", o));
            }
        }
    }
    seed_extra_skus(srv);
    if (d365_store_commit(srv) < 0) {
        d365_store_rollback(srv);
        snprintf(err, errlen, "cannot seed: %s", sqlite3_errmsg(srv->db));
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- on-hand */

static json_t *onhand_rows(d365_server *srv, const char *area, const char *item)
{
    return d365_store_find(srv, "WarehousesOnHandV2", area, "ItemNumber", item);
}

static void onhand_recompute(const schema_type *t, json_t *row)
{
    double onhand = d365_num(row, "OnHandQuantity");
    double res = d365_num(row, "ReservedOnHandQuantity");
    double avail = onhand - res;
    d365_set_if(t, row, "AvailableOnHandQuantity", json_real(avail));
    d365_set_if(t, row, "TotalAvailableQuantity", json_real(avail));
    d365_set_if(t, row, "AvailableOrderedQuantity", json_real(avail));
}

/* Adjust one warehouse's on-hand; missing rows are ignored (items without stock records). */
static void onhand_adjust(d365_server *srv, const char *area, const char *item, const char *site,
                          const char *wh, double d_onhand, double d_reserved)
{
    const schema_type *t = type_of_set(srv, "WarehousesOnHandV2");
    if (!t)
        return;
    json_t *rows = onhand_rows(srv, area, item);
    size_t i;
    json_t *pair;
    json_array_foreach(rows, i, pair) {
        json_t *row = json_array_get(pair, 0);
        if (strcasecmp(d365_str(row, "InventoryWarehouseId"), wh) != 0 ||
            (site && *site && strcasecmp(d365_str(row, "InventorySiteId"), site) != 0) ||
            *d365_str(row, "ProductColorId") || *d365_str(row, "ProductSizeId"))
            continue;
        json_object_set_new(row, "OnHandQuantity",
                            json_real(d365_num(row, "OnHandQuantity") + d_onhand));
        json_object_set_new(row, "ReservedOnHandQuantity",
                            json_real(d365_num(row, "ReservedOnHandQuantity") + d_reserved));
        onhand_recompute(t, row);
        store_back(srv, "WarehousesOnHandV2", row);
        break;
    }
    json_decref(rows);
}

/* Release what a sales line reserved; returns the reserved quantity released. */
static void release(d365_server *srv, const char *area, const char *lot)
{
    sqlite3_stmt *st = NULL;
    if ((st = d365_stmt(srv, "SELECT item, site, wh, qty FROM reservations WHERE area=?1 "
                             "AND lot=?2")) == NULL)
        return;
    sqlite3_bind_text(st, 1, area, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, lot, -1, SQLITE_STATIC);
    json_t *todo = json_array();
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(todo, json_pack("[s,s,s,f]", sqlite3_column_text(st, 0),
                                              sqlite3_column_text(st, 1),
                                              sqlite3_column_text(st, 2),
                                              sqlite3_column_double(st, 3)));
    d365_stmt_done(srv, st);
    size_t i;
    json_t *r;
    json_array_foreach(todo, i, r)
        onhand_adjust(srv, area, json_string_value(json_array_get(r, 0)),
                      json_string_value(json_array_get(r, 1)),
                      json_string_value(json_array_get(r, 2)), 0,
                      -json_real_value(json_array_get(r, 3)));
    json_decref(todo);
    if ((st = d365_stmt(srv, "DELETE FROM reservations WHERE area=?1 AND lot=?2")) != NULL) {
        sqlite3_bind_text(st, 1, area, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, lot, -1, SQLITE_STATIC);
        sqlite3_step(st);
    }
    d365_stmt_done(srv, st);
}

/* Reserve up to qty of the line's item in its warehouse. */
static void reserve(d365_server *srv, const json_t *line)
{
    const char *area = d365_str(line, "dataAreaId");
    const char *lot = d365_str(line, "InventoryLotId");
    const char *item = d365_str(line, "ItemNumber");
    const char *wh = d365_str(line, "ShippingWarehouseId");
    const char *site = d365_str(line, "ShippingSiteId");
    double qty = d365_num(line, "OrderedSalesQuantity");
    if (qty <= 0 || !*wh)
        return;
    json_t *rows = onhand_rows(srv, area, item);
    double avail = 0;
    size_t i;
    json_t *pair;
    json_array_foreach(rows, i, pair) {
        json_t *row = json_array_get(pair, 0);
        if (strcasecmp(d365_str(row, "InventoryWarehouseId"), wh) == 0)
            avail = d365_num(row, "AvailableOnHandQuantity");
    }
    json_decref(rows);
    double r = qty < avail ? qty : avail;
    if (r <= 0)
        return; /* nothing available: the line stays on backorder */
    onhand_adjust(srv, area, item, site, wh, 0, r);
    sqlite3_stmt *st = NULL;
    if ((st = d365_stmt(srv, "INSERT OR REPLACE INTO reservations(area, lot, item, site, wh,"
                           " qty) VALUES(?1,?2,?3,?4,?5,?6)")) != NULL) {
        sqlite3_bind_text(st, 1, area, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, lot, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, item, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, site, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, wh, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 6, r);
        sqlite3_step(st);
    }
    d365_stmt_done(srv, st);
}

/* ---------------------------------------------------------------- sales orders */

static bool is_header_set(const char *set)
{
    return strncmp(set, "SalesOrderHeaders", 17) == 0;
}

static bool is_line_set(const char *set)
{
    return strncmp(set, "SalesOrderLines", 15) == 0;
}

static json_t *order_lines(d365_server *srv, const char *area, const char *order)
{
    return d365_store_find(srv, "SalesOrderLines", area, "SalesOrderNumber", order);
}

static double order_total(d365_server *srv, const char *area, const char *order,
                          const char *skip_lot)
{
    json_t *rows = order_lines(srv, area, order);
    double sum = 0;
    size_t i;
    json_t *pair;
    json_array_foreach(rows, i, pair) {
        json_t *l = json_array_get(pair, 0);
        if (skip_lot && strcasecmp(d365_str(l, "InventoryLotId"), skip_lot) == 0)
            continue;
        sum += d365_num(l, "LineAmount");
    }
    json_decref(rows);
    return d365_round2(sum);
}

static json_t *customer(d365_server *srv, const char *area, const char *account)
{
    return fetch(srv, "CustomersV3", NULL, "dataAreaId", area, "CustomerAccount", account, NULL);
}

static void normalise_language(json_t *ent)
{
    const char *l = d365_str(ent, "LanguageId");
    char buf[32];
    size_t n = strlen(l);
    if (!n || n >= sizeof buf)
        return;
    memcpy(buf, l, n + 1);
    char *dash = strchr(buf, '-');
    for (char *p = buf; *p; p++)
        *p = (char)(dash && p > dash ? toupper((unsigned char)*p) : tolower((unsigned char)*p));
    json_object_set_new(ent, "LanguageId", json_string(buf));
}

/* What a real environment fills in on a new customer (recorded CustomersV3 create): the party
 * (type and number), the search name (first 20 characters of the name), the language. */
static void customer_defaults(d365_server *srv, const schema_type *t, json_t *ent)
{
    bool person = !empty_str(ent, "PersonFirstName") || !empty_str(ent, "PersonLastName");
    if (empty_str(ent, "PartyType"))
        d365_set_if(t, ent, "PartyType", json_string(person ? "Person" : "Organization"));
    if (d365_has_prop(t, "PartyNumber") && empty_str(ent, "PartyNumber")) {
        char *num = d365_next_number(srv, "PartyNumber", "");
        if (num)
            json_object_set_new(ent, "PartyNumber", json_string(num));
        free(num);
    }
    if (d365_has_prop(t, "NameAlias") && empty_str(ent, "NameAlias")) {
        char alias[21];
        if (person)
            snprintf(alias, sizeof alias, "%s", d365_str(ent, "PersonLastName"));
        else
            snprintf(alias, sizeof alias, "%s", d365_str(ent, "OrganizationName"));
        json_object_set_new(ent, "NameAlias", json_string(alias));
    }
    if (empty_str(ent, "LanguageId"))
        d365_set_if(t, ent, "LanguageId", json_string("en-US"));
    normalise_language(ent);
}

static int credit_check(d365_server *srv, const schema_type *t, const char *area,
                        const json_t *cust, double total, d365_resp *r)
{
    if (!srv->opt.credit_check || !cust)
        return 0;
    double limit = d365_num(cust, "CreditLimit");
    if (limit <= 0 || total <= limit + 0.004)
        return 0;
    write_error(r, t, "Credit limit check failed for customer account '%s' in company '%s': the "
                "order total %.2f %s would exceed the credit limit of %.2f %s",
                d365_str(cust, "CustomerAccount"), area, total,
                d365_str(cust, "SalesCurrencyCode"), limit, d365_str(cust, "SalesCurrencyCode"));
    return -1;
}

static int header_before(d365_server *srv, const schema_type *t, const char *op, json_t *ent,
                         const json_t *old, d365_resp *r)
{
    const char *area = d365_str(ent, "dataAreaId");
    if (strcmp(op, "DELETE") == 0) {
        const char *st = d365_str(ent, "SalesOrderStatus");
        if (strcmp(st, "Delivered") == 0 || strcmp(st, "Invoiced") == 0) {
            write_error(r, t, "Sales order '%s' is %s and cannot be deleted",
                        d365_str(ent, "SalesOrderNumber"), st);
            return -1;
        }
        return 0;
    }
    const char *acct = d365_str(ent, "OrderingCustomerAccountNumber");
    json_t *cust = customer(srv, area, acct);
    if (!cust) {
        write_error(r, t, "Customer account '%s' does not exist in company '%s'", acct, area);
        return -1;
    }
    int rc = -1;
    if (empty_str(ent, "InvoiceCustomerAccountNumber"))
        json_object_set_new(ent, "InvoiceCustomerAccountNumber", json_string(acct));
    else if (strcasecmp(d365_str(ent, "InvoiceCustomerAccountNumber"), acct) != 0) {
        json_t *inv = customer(srv, area, d365_str(ent, "InvoiceCustomerAccountNumber"));
        if (!inv) {
            write_error(r, t, "Invoice account '%s' does not exist in company '%s'",
                        d365_str(ent, "InvoiceCustomerAccountNumber"), area);
            goto out;
        }
        json_decref(inv);
    }
    if (!old) {
        char today[40], now[40];
        today_noon(today, sizeof today, 0);
        now_text(now, sizeof now);
        if (empty_str(ent, "CurrencyCode"))
            d365_set_if(t, ent, "CurrencyCode", json_string(d365_str(cust, "SalesCurrencyCode")));
        if (empty_str(ent, "LanguageId"))
            d365_set_if(t, ent, "LanguageId", json_string(d365_str(cust, "LanguageId")));
        if (empty_str(ent, "SalesOrderName"))
            d365_set_if(t, ent, "SalesOrderName", json_string(d365_str(cust, "OrganizationName")));
        static const char *const addr[][2] = {
            { "DeliveryAddressStreet", "DeliveryAddressStreet" },
            { "DeliveryAddressCity", "DeliveryAddressCity" },
            { "DeliveryAddressZipCode", "DeliveryAddressZipCode" },
            { "DeliveryAddressCountryRegionId", "DeliveryAddressCountryRegionId" },
            { "DeliveryAddressName", "OrganizationName" },
            { "InvoiceAddressStreet", "InvoiceAddressStreet" },
            { "InvoiceAddressCity", "InvoiceAddressCity" },
            { "InvoiceAddressZipCode", "InvoiceAddressZipCode" },
            { "InvoiceAddressCountryRegionId", "InvoiceAddressCountryRegionId" },
        };
        bool own_delivery = !empty_str(ent, "DeliveryAddressStreet") ||
                            !empty_str(ent, "DeliveryAddressCity");
        for (size_t i = 0; i < sizeof addr / sizeof addr[0]; i++) {
            if (own_delivery && strncmp(addr[i][0], "Delivery", 8) == 0)
                continue;
            if (d365_has_prop(t, addr[i][0]) && empty_str(ent, addr[i][0]))
                json_object_set_new(ent, addr[i][0], json_string(d365_str(cust, addr[i][1])));
        }
        if (empty_date(ent, "RequestedShippingDate"))
            d365_set_if(t, ent, "RequestedShippingDate", json_string(today));
        if (empty_date(ent, "RequestedReceiptDate"))
            d365_set_if(t, ent, "RequestedReceiptDate", json_string(today));
        d365_set_if(t, ent, "OrderCreationDateTime", json_string(now));
        if (empty_str(ent, "CustomerPostingProfileId"))
            d365_set_if(t, ent, "CustomerPostingProfileId", json_string("GEN"));
    } else {
        const char *st = d365_str(old, "SalesOrderStatus");
        if (strcmp(st, "Invoiced") == 0 || strcmp(st, "Canceled") == 0) {
            write_error(r, t, "Sales order '%s' is %s and cannot be changed",
                        d365_str(old, "SalesOrderNumber"), st);
            goto out;
        }
        if (strcasecmp(d365_str(old, "OrderingCustomerAccountNumber"), acct) != 0 &&
            credit_check(srv, t, area, cust, order_total(srv, area,
                         d365_str(ent, "SalesOrderNumber"), NULL), r) < 0)
            goto out;
    }
    normalise_language(ent);
    rc = 0;
out:
    json_decref(cust);
    return rc;
}

static int line_before(d365_server *srv, const schema_type *t, const char *op, json_t *ent,
                       const json_t *old, d365_resp *r)
{
    const char *area = d365_str(ent, "dataAreaId");
    const char *order = d365_str(ent, "SalesOrderNumber");
    json_t *hdr = fetch(srv, "SalesOrderHeadersV2", NULL, "dataAreaId", area, "SalesOrderNumber",
                        order, NULL);
    json_t *item = NULL, *cust = NULL;
    int rc = -1;
    if (!hdr) {
        write_error(r, t, "Sales order '%s' does not exist in company '%s'", order, area);
        goto out;
    }
    const char *st = d365_str(hdr, "SalesOrderStatus");
    if (strcmp(st, "Invoiced") == 0 || strcmp(st, "Canceled") == 0 ||
        (strcmp(st, "Delivered") == 0 && strcmp(op, "DELETE") != 0)) {
        write_error(r, t, "Sales order '%s' is %s: its lines cannot be changed", order, st);
        goto out;
    }
    if (strcmp(st, "Delivered") == 0) {
        write_error(r, t, "Sales order '%s' is Delivered: its lines cannot be deleted", order);
        goto out;
    }
    if (strcmp(op, "DELETE") == 0) {
        rc = 0;
        goto out;
    }
    const char *itemno = d365_str(ent, "ItemNumber");
    item = fetch(srv, "ReleasedProductsV2", NULL, "dataAreaId", area, "ItemNumber", itemno, NULL);
    if (!item) {
        write_error(r, t, "Item number '%s' does not exist in company '%s'", itemno, area);
        goto out;
    }
    if (old && strcasecmp(d365_str(old, "SalesOrderNumber"), order) != 0) {
        write_error(r, t, "A sales line cannot move to another order");
        goto out;
    }
    if (!old) {
        if (d365_num(ent, "SalesPrice") == 0)
            json_object_set_new(ent, "SalesPrice", json_real(d365_num(item, "SalesPrice")));
        if (empty_str(ent, "LineDescription"))
            d365_set_if(t, ent, "LineDescription", json_string(d365_str(item, "SearchName")));
        if (empty_str(ent, "SalesUnitSymbol"))
            d365_set_if(t, ent, "SalesUnitSymbol", json_string(d365_str(item, "SalesUnitSymbol")));
        if (empty_str(ent, "CurrencyCode"))
            d365_set_if(t, ent, "CurrencyCode", json_string(d365_str(hdr, "CurrencyCode")));
        if (empty_date(ent, "RequestedShippingDate"))
            d365_set_if(t, ent, "RequestedShippingDate",
                        json_string(d365_str(hdr, "RequestedShippingDate")));
        if (empty_date(ent, "RequestedReceiptDate"))
            d365_set_if(t, ent, "RequestedReceiptDate",
                        json_string(d365_str(hdr, "RequestedReceiptDate")));
        if (d365_has_prop(t, "LineCreationSequenceNumber") &&
            d365_num(ent, "LineCreationSequenceNumber") == 0) {
            json_t *rows = order_lines(srv, area, order);
            json_object_set_new(ent, "LineCreationSequenceNumber",
                                json_integer((json_int_t)json_array_size(rows) + 1));
            if (d365_has_prop(t, "LineNumber") && d365_num(ent, "LineNumber") == 0)
                json_object_set_new(ent, "LineNumber", json_real((double)json_array_size(rows) + 1));
            json_decref(rows);
        }
        d365_set_if(t, ent, "SalesOrderLineStatus", json_string("Backorder"));
    }
    /* warehouse: the one asked for, else the one with the most available stock */
    if (empty_str(ent, "ShippingWarehouseId")) {
        json_t *rows = onhand_rows(srv, area, itemno);
        double best = -1e300;
        size_t i;
        json_t *pair;
        json_array_foreach(rows, i, pair) {
            json_t *row = json_array_get(pair, 0);
            double a = d365_num(row, "AvailableOnHandQuantity");
            if (a > best) {
                best = a;
                json_object_set_new(ent, "ShippingWarehouseId",
                                    json_string(d365_str(row, "InventoryWarehouseId")));
                json_object_set_new(ent, "ShippingSiteId",
                                    json_string(d365_str(row, "InventorySiteId")));
            }
        }
        json_decref(rows);
    } else if (empty_str(ent, "ShippingSiteId")) {
        json_t *rows = onhand_rows(srv, area, itemno);
        size_t i;
        json_t *pair;
        json_array_foreach(rows, i, pair) {
            json_t *row = json_array_get(pair, 0);
            if (strcasecmp(d365_str(row, "InventoryWarehouseId"), d365_str(ent, "ShippingWarehouseId")) == 0)
                json_object_set_new(ent, "ShippingSiteId",
                                    json_string(d365_str(row, "InventorySiteId")));
        }
        json_decref(rows);
    }
    /* line amount: (price - discount amount) x quantity, less the discount percentage */
    double price = d365_num(ent, "SalesPrice"), qty = d365_num(ent, "OrderedSalesQuantity");
    double disc = d365_num(ent, "LineDiscountAmount"), pct = d365_num(ent, "LineDiscountPercentage");
    if (pct < 0 || pct > 100) {
        write_error(r, t, "The line discount percentage %.2f is not between 0 and 100", pct);
        goto out;
    }
    double amount = d365_round2((price - disc) * qty * (1.0 - pct / 100.0));
    json_object_set_new(ent, "LineAmount", json_real(amount));
    cust = customer(srv, area, d365_str(hdr, "OrderingCustomerAccountNumber"));
    double total = order_total(srv, area, order, d365_str(ent, "InventoryLotId")) + amount;
    if (credit_check(srv, t, area, cust, total, r) < 0)
        goto out;
    rc = 0;
out:
    json_decref(hdr);
    json_decref(item);
    json_decref(cust);
    return rc;
}

/* Header totals and status after its lines changed. */
static void header_refresh(d365_server *srv, const char *area, const char *order)
{
    const schema_type *ht = type_of_set(srv, "SalesOrderHeadersV2");
    json_t *hdr = fetch(srv, "SalesOrderHeadersV2", NULL, "dataAreaId", area, "SalesOrderNumber",
                        order, NULL);
    if (!hdr || !ht) {
        json_decref(hdr);
        return;
    }
    json_t *rows = order_lines(srv, area, order);
    const char *st = d365_str(hdr, "SalesOrderStatus");
    if ((strcmp(st, "None") == 0 || !*st) && json_array_size(rows) > 0)
        d365_set_if(ht, hdr, "SalesOrderStatus", json_string("Backorder"));
    d365_set_if(ht, hdr, "OrderTotalAmount", json_real(order_total(srv, area, order, NULL)));
    json_decref(rows);
    store_back(srv, "SalesOrderHeadersV2", hdr);
    json_decref(hdr);
}

int d365_rules_before(d365_server *srv, const char *set, const schema_type *t, const char *op,
                      json_t *ent, const json_t *old, d365_resp *r)
{
    if (is_header_set(set) && d365_has_prop(t, "OrderingCustomerAccountNumber"))
        return header_before(srv, t, op, ent, old, r);
    if (is_line_set(set) && d365_has_prop(t, "ItemNumber") && d365_has_prop(t, "SalesOrderNumber"))
        return line_before(srv, t, op, ent, old, r);
    if (strcmp(set, "CustomersV3") == 0 && strcmp(op, "DELETE") == 0) {
        json_t *used = d365_store_find(srv, "SalesOrderHeadersV2", d365_str(ent, "dataAreaId"),
                                       "OrderingCustomerAccountNumber",
                                       d365_str(ent, "CustomerAccount"));
        size_t n = json_array_size(used);
        json_decref(used);
        if (n) {
            write_error(r, t, "Cannot delete a record in Customers (CustTable). Customer account: "
                        "%s. The record is used in %zu sales order(s)",
                        d365_str(ent, "CustomerAccount"), n);
            return -1;
        }
        return 0;
    }
    if (strcmp(set, "ReleasedProductsV2") == 0 && strcmp(op, "DELETE") == 0) {
        json_t *used = d365_store_find(srv, "SalesOrderLines", d365_str(ent, "dataAreaId"),
                                       "ItemNumber", d365_str(ent, "ItemNumber"));
        size_t n = json_array_size(used);
        json_decref(used);
        if (n) {
            write_error(r, t, "Cannot delete a record in Released products (InventTable). Item "
                        "number: %s. The record is used in %zu sales order line(s)",
                        d365_str(ent, "ItemNumber"), n);
            return -1;
        }
        return 0;
    }
    if (strcmp(set, "CustomersV3") == 0 && strcmp(op, "DELETE") != 0) {
        if (d365_num(ent, "CreditLimit") < 0) {
            write_error(r, t, "The credit limit cannot be negative");
            return -1;
        }
        if (!old)
            customer_defaults(srv, t, ent);
        return 0;
    }
    if (strcmp(set, "CustomerPaymentJournalLines") == 0 && !old && d365_num(ent, "LineNumber") == 0) {
        json_t *rows = d365_store_find(srv, set, d365_str(ent, "dataAreaId"), "JournalBatchNumber",
                                       d365_str(ent, "JournalBatchNumber"));
        double max = 0;
        size_t i;
        json_t *pair;
        json_array_foreach(rows, i, pair)
            if (d365_num(json_array_get(pair, 0), "LineNumber") > max)
                max = d365_num(json_array_get(pair, 0), "LineNumber");
        json_decref(rows);
        json_object_set_new(ent, "LineNumber", json_real(max + 1));
        return 0;
    }
    return 0;
}

int d365_rules_after(d365_server *srv, const char *set, const schema_type *t, const char *op,
                     const json_t *ent, const json_t *old, d365_resp *r)
{
    (void)t;
    (void)r;
    if (is_line_set(set) && d365_has_prop(t, "ItemNumber")) {
        const json_t *any = ent ? ent : old;
        const char *area = d365_str(any, "dataAreaId");
        if (old)
            release(srv, area, d365_str(old, "InventoryLotId"));
        if (ent)
            reserve(srv, ent);
        header_refresh(srv, area, d365_str(any, "SalesOrderNumber"));
        return 0;
    }
    if (is_header_set(set) && strcmp(op, "DELETE") == 0 && old) {
        /* deleting an order deletes its lines and frees their reservations */
        const char *area = d365_str(old, "dataAreaId");
        const schema_type *lt = type_of_set(srv, "SalesOrderLines");
        json_t *rows = order_lines(srv, area, d365_str(old, "SalesOrderNumber"));
        size_t i;
        json_t *pair;
        json_array_foreach(rows, i, pair) {
            json_t *l = json_array_get(pair, 0);
            release(srv, area, d365_str(l, "InventoryLotId"));
            char *key = lt ? d365_key_of(lt, l) : NULL;
            if (key)
                d365_store_delete(srv, "SalesOrderLines", key);
            free(key);
        }
        json_decref(rows);
    }
    return 0;
}

/* ---------------------------------------------------------------- life after the order */

static void control_error(d365_resp *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void control_error(d365_resp *r, unsigned status, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    d365_error(r, status, D365_T_WRITE, "%s", msg);
}

static void ship(d365_server *srv, const char *area, json_t *hdr, d365_resp *r)
{
    const char *order = d365_str(hdr, "SalesOrderNumber");
    const char *st = d365_str(hdr, "SalesOrderStatus");
    if (strcmp(st, "Delivered") == 0 || strcmp(st, "Invoiced") == 0 || strcmp(st, "Canceled") == 0) {
        control_error(r, 409, "Sales order '%s' is already %s.", order, st);
        return;
    }
    json_t *rows = order_lines(srv, area, order);
    if (!json_array_size(rows)) {
        json_decref(rows);
        control_error(r, 409, "Sales order '%s' has no lines to ship.", order);
        return;
    }
    const schema_type *lt = type_of_set(srv, "SalesOrderLines");
    const schema_type *ht = type_of_set(srv, "SalesOrderHeadersV2");
    size_t i;
    json_t *pair;
    json_array_foreach(rows, i, pair) {
        json_t *l = json_array_get(pair, 0);
        release(srv, area, d365_str(l, "InventoryLotId"));
        onhand_adjust(srv, area, d365_str(l, "ItemNumber"), d365_str(l, "ShippingSiteId"),
                      d365_str(l, "ShippingWarehouseId"), -d365_num(l, "OrderedSalesQuantity"), 0);
        d365_set_if(lt, l, "SalesOrderLineStatus", json_string("Delivered"));
        store_back(srv, "SalesOrderLines", l);
    }
    json_decref(rows);
    d365_set_if(ht, hdr, "SalesOrderStatus", json_string("Delivered"));
    store_back(srv, "SalesOrderHeadersV2", hdr);
    char today[40], tracking[40], url[128];
    today_noon(today, sizeof today, 0);
    long long n = d365_store_next(srv, "tracking");
    unsigned long long h = 1469598103934665603ull ^ (unsigned long long)srv->opt.seed;
    for (const char *p = order; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    snprintf(tracking, sizeof tracking, "1Z%03lld%011llu", n % 1000, h % 100000000000ull);
    snprintf(url, sizeof url, "https://tracking.sandbox.example/track?number=%s", tracking);
    json_t *ps = d365_rules_insert(srv, "PackingSlipTrackingInformation",
                                   json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "dataAreaId", area,
                                             "SalesOrderNumber", order, "PackingSlipNumber", "",
                                             "DeliveryDate", today, "TrackingNumber", tracking,
                                             "TrackingURL", url));
    r->status = 200;
    r->json = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "dataAreaId", area, "SalesOrderNumber", order,
                        "SalesOrderStatus", "Delivered", "PackingSlipNumber",
                        ps ? d365_str(ps, "PackingSlipNumber") : "", "TrackingNumber", tracking,
                        "TrackingURL", url);
    json_decref(ps);
}

/* Header auto charges of the emulated company (F&O: Accounts receivable > Charges setup > Auto
 * charges, header level, all customers, by mode of delivery): the freight F&O adds to an order
 * of that mode of delivery unless the order says SkipCreateAutoCharges = Yes. */
static const struct {
    const char *mode, *code;
    double amount;
} auto_charges[] = {
    { "WEB-STD", "FREIGHT", 9.95 },   /* the web shop's standard shipping (storefront: 9.95) */
};

/* The order's charges: the header's charge total plus its auto charges. */
static double order_charges(const json_t *hdr)
{
    double c = d365_num(hdr, "OrderTotalChargesAmount");
    if (strcmp(d365_str(hdr, "SkipCreateAutoCharges"), "Yes") != 0)
        for (size_t i = 0; i < sizeof auto_charges / sizeof *auto_charges; i++)
            if (strcasecmp(d365_str(hdr, "DeliveryModeCode"), auto_charges[i].mode) == 0)
                c += auto_charges[i].amount;
    return d365_round2(c);
}

static void invoice(d365_server *srv, const char *area, json_t *hdr, d365_resp *r)
{
    const char *order = d365_str(hdr, "SalesOrderNumber");
    const char *st = d365_str(hdr, "SalesOrderStatus");
    if (strcmp(st, "Delivered") != 0) {
        control_error(r, 409, "Sales order '%s' is %s: only a delivered order can be invoiced.",
                      order, *st ? st : "None");
        return;
    }
    char today[40];
    today_noon(today, sizeof today, 0);
    char *inv = d365_next_number(srv, "InvoiceNumber", area);
    char *lv = d365_next_number(srv, "LedgerVoucher", area);
    /* What F&O invoices: the lines, less the order's total discount (TotalDiscountAmount, else
     * TotalDiscountPercentage of the lines), plus its charges and its sales tax.  The sandbox
     * calculates no tax of its own: an order's tax is the OrderHeaderTaxAmount it was given. */
    double lines = order_total(srv, area, order, NULL);
    double discount = d365_round2(d365_num(hdr, "TotalDiscountAmount"));
    if (discount == 0)
        discount = d365_round2(lines * d365_num(hdr, "TotalDiscountPercentage") / 100.0);
    double charges = order_charges(hdr);
    double tax = d365_round2(d365_num(hdr, "OrderHeaderTaxAmount") + d365_num(hdr, "OrderTotalTaxAmount"));
    double total = d365_round2(lines - discount + charges + tax);
    json_t *ih = d365_rules_insert(srv, "SalesInvoiceHeadersV2",
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:f,s:f,s:f,s:f,s:f,s:s,s:s,s:s,s:s,s:s,s:s}",
                  "dataAreaId", area, "InvoiceNumber", inv ? inv : "", "InvoiceDate", today,
                  "LedgerVoucher", lv ? lv : "", "SalesOrderNumber", order,
                  "InvoiceCustomerAccountNumber", d365_str(hdr, "InvoiceCustomerAccountNumber"),
                  "CurrencyCode", d365_str(hdr, "CurrencyCode"), "TotalInvoiceAmount", total,
                  "TotalDiscountAmount", discount, "TotalTaxAmount", tax, "TotalChargeAmount", charges,
                  "InvoiceHeaderTaxAmount", d365_round2(d365_num(hdr, "OrderHeaderTaxAmount")),
                  "CustomersOrderReference", d365_str(hdr, "CustomersOrderReference"),
                  "DeliveryModeCode", d365_str(hdr, "DeliveryModeCode"),
                  "InvoiceAddressStreet", d365_str(hdr, "InvoiceAddressStreet"),
                  "InvoiceAddressCity", d365_str(hdr, "InvoiceAddressCity"),
                  "InvoiceAddressZipCode", d365_str(hdr, "InvoiceAddressZipCode"),
                  "InvoiceAddressCountryRegionId", d365_str(hdr, "InvoiceAddressCountryRegionId")));
    json_t *rows = order_lines(srv, area, order);
    const schema_type *lt = type_of_set(srv, "SalesOrderLines");
    const schema_type *ht = type_of_set(srv, "SalesOrderHeadersV2");
    size_t i;
    json_t *pair;
    json_array_foreach(rows, i, pair) {
        json_t *l = json_array_get(pair, 0);
        json_decref(d365_rules_insert(srv, "SalesInvoiceV2Lines",
            json_pack("{s:s,s:s,s:I,s:s,s:s,s:s,s:s,s:s,s:f,s:f,s:f,s:s,s:s,s:s,s:s}",
                      "dataAreaId", area, "InvoiceNumber", inv ? inv : "",
                      "LineCreationSequenceNumber", (json_int_t)(i + 1), "InvoiceDate", today,
                      "LedgerVoucher", lv ? lv : "", "ProductNumber", d365_str(l, "ItemNumber"),
                      "ProductName", d365_str(l, "LineDescription"), "ProductDescription",
                      d365_str(l, "LineDescription"), "InvoicedQuantity",
                      d365_num(l, "OrderedSalesQuantity"), "SalesPrice", d365_num(l, "SalesPrice"),
                      "LineAmount", d365_num(l, "LineAmount"), "CurrencyCode",
                      d365_str(l, "CurrencyCode"), "SalesUnitSymbol", d365_str(l, "SalesUnitSymbol"),
                      "InventoryWarehouseId", d365_str(l, "ShippingWarehouseId"),
                      "InventorySiteId", d365_str(l, "ShippingSiteId"))));
        d365_set_if(lt, l, "SalesOrderLineStatus", json_string("Invoiced"));
        store_back(srv, "SalesOrderLines", l);
    }
    json_decref(rows);
    d365_set_if(ht, hdr, "SalesOrderStatus", json_string("Invoiced"));
    store_back(srv, "SalesOrderHeadersV2", hdr);
    if (!ih) {
        control_error(r, 500, "The invoice could not be created.");
    } else {
        r->status = 200;
        r->json = json_pack("{s:s,s:s,s:s,s:s,s:s,s:f,s:f,s:f,s:f}", "dataAreaId", area,
                            "SalesOrderNumber", order, "InvoiceNumber", inv ? inv : "", "InvoiceDate",
                            today, "LedgerVoucher", lv ? lv : "", "TotalInvoiceAmount", total,
                            "TotalDiscountAmount", discount, "TotalChargeAmount", charges,
                            "TotalTaxAmount", tax);
    }
    json_decref(ih);
    free(inv);
    free(lv);
}

static void make_return(d365_server *srv, const char *area, json_t *hdr, d365_resp *r)
{
    const char *order = d365_str(hdr, "SalesOrderNumber");
    const char *st = d365_str(hdr, "SalesOrderStatus");
    if (strcmp(st, "Delivered") != 0 && strcmp(st, "Invoiced") != 0) {
        control_error(r, 409, "Sales order '%s' is %s: only a delivered or invoiced order can be "
                      "returned.", order, *st ? st : "None");
        return;
    }
    if (!type_of_set(srv, "ReturnOrderHeadersV2") || !type_of_set(srv, "ReturnOrderLinesV2")) {
        control_error(r, 409, "The metadata does not declare ReturnOrderHeadersV2 and "
                      "ReturnOrderLinesV2.");
        return;
    }
    char deadline[40], today[40];
    today_noon(deadline, sizeof deadline, 30);
    today_noon(today, sizeof today, 0);
    char *rma = d365_next_number(srv, "RMANumber", area);
    double total = order_total(srv, area, order, NULL);
    json_t *rh = d365_rules_insert(srv, "ReturnOrderHeadersV2",
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:f,s:s,s:s}",
                  "dataAreaId", area, "ReturnOrderNumber", "", "RMANumber", rma ? rma : "",
                  "CustomerAccountNumber", d365_str(hdr, "OrderingCustomerAccountNumber"),
                  "InvoiceCustomerAccountNumber", d365_str(hdr, "InvoiceCustomerAccountNumber"),
                  "CurrencyCode", d365_str(hdr, "CurrencyCode"), "LanguageId",
                  d365_str(hdr, "LanguageId"), "ReturnDeadline", deadline,
                  "CustomersOrderReference", order, "OrderTotalAmount", -total,
                  "ReturnStatus", "Created", "ReturnOrderStatus", "Backorder"));
    if (!rh) {
        free(rma);
        control_error(r, 500, "The return order could not be created.");
        return;
    }
    const char *ret = d365_str(rh, "ReturnOrderNumber");
    json_t *rows = order_lines(srv, area, order);
    size_t i;
    json_t *pair;
    json_array_foreach(rows, i, pair) {
        json_t *l = json_array_get(pair, 0);
        json_decref(d365_rules_insert(srv, "ReturnOrderLinesV2",
            json_pack("{s:s,s:s,s:s,s:s,s:f,s:f,s:f,s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:s}",
                      "dataAreaId", area, "ReturnOrderNumber", ret, "ReturnInventoryLotId", "",
                      "ItemNumber", d365_str(l, "ItemNumber"), "ReturnSalesQuantity",
                      -d365_num(l, "OrderedSalesQuantity"), "SalesPrice", d365_num(l, "SalesPrice"),
                      "LineAmount", -d365_num(l, "LineAmount"), "SalesUnitSymbol",
                      d365_str(l, "SalesUnitSymbol"), "LineDescription", d365_str(l, "LineDescription"),
                      "ReturnWarehouseId", d365_str(l, "ShippingWarehouseId"), "ReturnSiteId",
                      d365_str(l, "ShippingSiteId"), "CustomerAccountNumber",
                      d365_str(hdr, "OrderingCustomerAccountNumber"), "LineCreationSequenceNumber",
                      (json_int_t)(i + 1), "RMANumber", rma ? rma : "", "ReturnStatus", "Awaiting",
                      "ReferenceInventoryLotId", d365_str(l, "InventoryLotId"))));
    }
    json_decref(rows);
    r->status = 200;
    r->json = json_pack("{s:s,s:s,s:s,s:s,s:f}", "dataAreaId", area, "SalesOrderNumber", order,
                        "ReturnOrderNumber", ret, "RMANumber", rma ? rma : "",
                        "OrderTotalAmount", -total);
    json_decref(rh);
    free(rma);
}

/* F&O's "Cancel" on a sales order: the order and its lines become Canceled (SalesStatus) and
 * what the lines reserved is released.  A delivered or invoiced order cannot be canceled (F&O
 * asks for a return instead), nor one already canceled: 409 with the reason. */
static void cancel(d365_server *srv, const char *area, json_t *hdr, d365_resp *r)
{
    const char *order = d365_str(hdr, "SalesOrderNumber");
    const char *st = d365_str(hdr, "SalesOrderStatus");
    if (strcmp(st, "Delivered") == 0 || strcmp(st, "Invoiced") == 0) {
        control_error(r, 409, "Sales order '%s' is %s and cannot be canceled; create a return "
                      "order instead.", order, st);
        return;
    }
    if (strcmp(st, "Canceled") == 0) {
        control_error(r, 409, "Sales order '%s' is already Canceled.", order);
        return;
    }
    const schema_type *lt = type_of_set(srv, "SalesOrderLines");
    const schema_type *ht = type_of_set(srv, "SalesOrderHeadersV2");
    json_t *rows = order_lines(srv, area, order);
    size_t i;
    json_t *pair;
    json_array_foreach(rows, i, pair) {
        json_t *l = json_array_get(pair, 0);
        release(srv, area, d365_str(l, "InventoryLotId"));
        d365_set_if(lt, l, "SalesOrderLineStatus", json_string("Canceled"));
        store_back(srv, "SalesOrderLines", l);
    }
    size_t nlines = json_array_size(rows);
    json_decref(rows);
    d365_set_if(ht, hdr, "SalesOrderStatus", json_string("Canceled"));
    store_back(srv, "SalesOrderHeadersV2", hdr);
    r->status = 200;
    r->json = json_pack("{s:s,s:s,s:s,s:I}", "dataAreaId", area, "SalesOrderNumber", order,
                        "SalesOrderStatus", "Canceled", "CanceledLines", (json_int_t)nlines);
}

void d365_rules_control(d365_server *srv, const char *action, const char *company,
                        const char *order, d365_resp *r)
{
    char area[32];
    snprintf(area, sizeof area, "%s", company);
    for (char *p = area; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    json_t *hdr = fetch(srv, "SalesOrderHeadersV2", NULL, "dataAreaId", area, "SalesOrderNumber",
                        order, NULL);
    if (!hdr) {
        control_error(r, 404, "Sales order '%s' does not exist in company '%s'.", order, area);
        return;
    }
    if (strcmp(action, "ship") == 0)
        ship(srv, area, hdr, r);
    else if (strcmp(action, "invoice") == 0)
        invoice(srv, area, hdr, r);
    else if (strcmp(action, "cancel") == 0)
        cancel(srv, area, hdr, r);
    else
        make_return(srv, area, hdr, r);
    json_decref(hdr);
}
