/*
 * clarity_entity.c - the records of the Clarity emulator: the entity registry, request binding
 * (ServiceStack-like type coercion and errors), the generic Create / Update / Upsert /
 * Deactivate / Reactivate / Delete / search / digest operations, the sales document rules
 * (line prices, discount codes, totals, balance), the sales order state actions and payments,
 * the inventory provider, and seeding from seed.h.  Every change and its webhook event are
 * written in one SQLite transaction.
 *
 * Behaviour chosen where CEF's is not documented (DESIGN GUESS):
 *   - Create assigns the ID (a client ID is ignored); UpdatedDate stays absent until the first
 *     change, so ModifiedSince means "UpdatedDate or CreatedDate >= t".
 *   - Update merges the members the body names into the stored record (null removes one);
 *     an Update or Upsert that changes nothing writes nothing and fires no event.  An order's
 *     StatusKey changes only through the state PATCHes.
 *   - A duplicate CustomKey among active records, an unknown related record (AccountKey,
 *     ProductKey, discount code), a missing Name (Account, Product) or a bad state transition
 *     answers 400 with both ActionSucceeded:false + Messages and a ResponseStatus.  A missing
 *     record answers 404 (GET, Update, actions); Exists answers null.
 *   - Binding is lenient like ServiceStack's: numeric strings become numbers, "true"/"false"
 *     booleans, dates are normalised to "YYYY-MM-DDTHH:MM:SS.mmmZ"; anything else of the wrong
 *     type is a 400 SerializationException naming the field ("SalesItems[0].Quantity").
 *   - Sales documents: a line names a catalog product by ProductID / ProductKey (must exist) or
 *     by Sku (a non-catalog line when no product has that key); prices default to the
 *     product's PriceBase; ExtendedPrice, ItemQuantity, Totals and BalanceDue are computed.
 *     The storefront's CurrencyKey goes to every line's SellingCurrencyKey /
 *     OriginalCurrencyKey (the model has no header currency).  Discounts entries name a coupon
 *     by Code (a DiscountCode), or a Discount by DiscountID / DiscountKey; they come back as
 *     CEF applied discounts (DiscountID/Key/Name, DiscountValue, DiscountValueType 0 = percent,
 *     1 = amount, DiscountTotal).  Seeded Discounts and DiscountCodes both use the coupon code
 *     as CustomKey, so DiscountKey names the coupon.
 *   - Order states (StatusKey/StatusID): Pending (new), OnHold, Confirmed, Backordered,
 *     Processing, Shipped, ReadyForPickup, DropShipped, Completed, Void.  Completed and Void
 *     are final; Ship refuses OnHold; Complete needs Shipped/DropShipped/ReadyForPickup; Void
 *     refuses shipped orders; repeating the current state succeeds without a change.  Ship
 *     creates a Shipment (tracking number from the body or generated); every change appends a
 *     SalesEvent.  AddPayment creates a Payment, links it in SalesOrderPayments
 *     {MasterID, SlaveID, Slave} and lowers BalanceDue (never below 0); a declined payment
 *     (Authorized false) is recorded but received nothing, so BalanceDue stays.
 *   - Accounts carry the seed's credit limit as Credit (+ CreditCurrencyKey) and their billing
 *     contact in AccountContacts; Users' CustomKey is the e-mail.
 *   - Stock is the product's ProductInventoryLocationSections (one row per seed warehouse);
 *     inventory updates change the product (UpdatedDate, Product.Updated event).  A bulk
 *     CalculatedInventory item without RelevantLocations sets the first location's row; its
 *     MaximumPurchaseQuantity, IsUnlimitedStock, IsDiscontinued, AllowBackOrder and
 *     AllowPreSale, when given, are stored on the product (DESIGN GUESS: they are Product
 *     fields as well).
 */
#include "clarity_int.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SEED_DATE "2026-01-01T00:00:00.000Z"

const centity clarity_entities[] = {
    {"Ordering", "SalesOrder", "SalesOrders", CE_SALES | CE_ORDER, "Pending"},
    {"Invoicing", "SalesInvoice", "SalesInvoices", CE_SALES, "Unpaid"},
    {"Returning", "SalesReturn", "SalesReturns", CE_SALES, "Pending"},
    {"Products", "Product", "Products", 0, "Normal"},
    {"Accounts", "Account", "Accounts", 0, "Normal"},
    {"Contacts", "User", "Users", 0, NULL},
    {"Contacts", "Contact", "Contacts", 0, NULL},
    {"Shipping", "Shipment", "Shipments", 0, NULL},
    {"Payments", "Payment", "Payments", 0, NULL},
    {"Discounts", "Discount", "Discounts", 0, NULL},
    {"Discounts", "DiscountCode", "DiscountCodes", 0, NULL},
};
const size_t clarity_n_entities = sizeof clarity_entities / sizeof clarity_entities[0];

const centity *clarity_entity_by_name(const char *name)
{
    for (size_t i = 0; i < clarity_n_entities; i++)
        if (!strcmp(clarity_entities[i].name, name))
            return &clarity_entities[i];
    return NULL;
}

/* Sales order states: action -> StatusKey, and the StatusID of each key. */
static const struct {
    const char *action, *status;
} order_actions[] = {
    {"Confirm", "Confirmed"},   {"Hold", "OnHold"},           {"Pending", "Pending"},
    {"Backorder", "Backordered"}, {"Ship", "Shipped"},        {"Complete", "Completed"},
    {"Void", "Void"},           {"ReadyForPickup", "ReadyForPickup"},
    {"DropShip", "DropShipped"}, {"CreatePickTicket", "Processing"},
    {"CapturePayment", NULL},
};
static const char *const status_keys[] = {
    "Pending", "OnHold", "Confirmed", "Backordered", "Processing", "Shipped", "ReadyForPickup",
    "DropShipped", "Completed", "Void", "Unpaid", "Paid", "Normal",
};

static int status_id(const char *key)
{
    for (size_t i = 0; i < sizeof status_keys / sizeof *status_keys; i++)
        if (!strcmp(status_keys[i], key))
            return (int)i + 1;
    return 0;
}

/* ---------------------------------------------------------------- replies */

json_t *cl_error(const char *code, const char *message, json_t *errors, int action)
{
    json_t *rs = json_pack("{s:s,s:s,s:o}", "ErrorCode", code, "Message", message, "Errors",
                           errors ? errors : json_array());
    json_t *o = json_object();
    if (action) {
        json_object_set_new(o, "ActionSucceeded", json_false());
        json_object_set_new(o, "Messages", json_pack("[s]", message));
    }
    json_object_set_new(o, "ResponseStatus", rs);
    return o;
}

json_t *cl_ok(json_t *result)
{
    json_t *o = json_object();
    json_object_set_new(o, "ActionSucceeded", json_true());
    if (result)
        json_object_set_new(o, "Result", result);
    return o;
}

void cl_omit_empty(json_t *v)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *m;
        void *tmp;
        json_object_foreach_safe(v, tmp, k, m) {
            cl_omit_empty(m);
            if (json_is_null(m) || (json_is_string(m) && json_string_length(m) == 0) ||
                (json_is_array(m) && json_array_size(m) == 0))
                json_object_del(v, k);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m) cl_omit_empty(m);
    }
}

static json_t *errorf(const char *code, int action, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cl_error(code, msg, NULL, action);
}

static json_t *db_error(clarity_server *s)
{
    return errorf("DatabaseError", 1, "Log ID: %lld. %s", (long long)cs_now_ms(),
                  cs_errmsg(s->store));
}

/* ---------------------------------------------------------------- binding */

static const char *const decimal_fields[] = {
    "Quantity", "QuantityBackOrdered", "QuantityAllocated", "QuantityPreSold",
    "QuantityBroken", "UnitCorePrice", "UnitSoldPrice", "ExtendedTaxAmount", "Amount",
    "SubTotal", "Shipping", "Handling", "Fees", "Tax", "Total", "BalanceDue", "CreditLimit",
    "PriceBase", "PriceSale", "PriceMsrp", "Weight", "Value", "Hash", "QuantityPresent",
    "QuantityOnHand", "QuantityPreSellable", "MaximumPurchaseQuantity",
    "MaximumBackOrderPurchaseQuantity",
};
static const char *const bool_fields[] = {
    "Active", "Authorized", "Received", "IsTaxable", "IsPrimary", "Captured", "IsOutOfStock",
    "IsUnlimitedStock", "IsDiscontinued", "AllowBackOrder", "AllowPreSale",
};
static const char *const string_id_fields[] = {
    "PaymentTransactionID", "EventID", "ExternalCustomerID", "ExternalPaymentID",
};

static int in_list(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(name, list[i]))
            return 1;
    return 0;
}
#define IN(name, list) in_list(name, list, sizeof list / sizeof *list)

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static void add_bind_error(json_t *errors, const char *code, const char *field, const char *fmt,
                           ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_array_append_new(errors, json_pack("{s:s,s:s,s:s}", "ErrorCode", code, "FieldName",
                                            field, "Message", msg));
}

/* A number from a JSON number or a numeric string (ServiceStack's lenient binding). */
static json_t *coerce_number(const json_t *v, int integer)
{
    if (json_is_integer(v))
        return json_incref((json_t *)v);
    if (json_is_real(v))
        return integer ? NULL : json_incref((json_t *)v);
    if (!json_is_string(v))
        return NULL;
    const char *t = json_string_value(v);
    char *end;
    while (isspace((unsigned char)*t))
        t++;
    if (!*t)
        return NULL;
    if (integer) {
        long long x = strtoll(t, &end, 10);
        return *end ? NULL : json_integer(x);
    }
    double d = strtod(t, &end);
    if (*end || !isfinite(d))
        return NULL;
    if (d == floor(d) && fabs(d) < 9e15 && !strpbrk(t, ".eE"))
        return json_integer((json_int_t)d);
    return json_real(d);
}

static void bind_value(json_t *parent, const char *name, json_t *v, const char *path,
                       json_t *errors);

static void bind_object(json_t *o, const char *path, json_t *errors)
{
    const char *k;
    json_t *m;
    void *tmp;
    char sub[256];
    json_object_foreach_safe(o, tmp, k, m) {
        snprintf(sub, sizeof sub, "%.200s%s%.40s", path, *path ? "." : "", k);
        bind_value(o, k, m, sub, errors);
    }
}

static void bind_value(json_t *parent, const char *name, json_t *v, const char *path,
                       json_t *errors)
{
    if (json_is_null(v))
        return;
    if (json_is_object(v)) {
        bind_object(v, path, errors);
        return;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *m;
        char sub[256];
        int ints = ends_with(name, "IDs");
        json_array_foreach(v, i, m) {
            snprintf(sub, sizeof sub, "%.200s[%zu]", path, i);
            if (ints) {
                json_t *n = coerce_number(m, 1);
                if (!n)
                    add_bind_error(errors, "SerializationException", sub,
                                   "'%s' is not a valid Int32", json_is_string(m) ?
                                   json_string_value(m) : "value");
                else
                    json_array_set_new(v, i, n);
            } else if (json_is_object(m)) {
                bind_object(m, sub, errors);
            }
        }
        return;
    }
    if (IN(name, decimal_fields)) {
        json_t *n = coerce_number(v, 0);
        if (!n)
            add_bind_error(errors, "SerializationException", path,
                           "'%s' is not a valid Decimal",
                           json_is_string(v) ? json_string_value(v) : "value");
        else
            json_object_set_new(parent, name, n);
    } else if (IN(name, bool_fields)) {
        if (json_is_string(v) && (!strcasecmp(json_string_value(v), "true") ||
                                  !strcasecmp(json_string_value(v), "false")))
            json_object_set_new(parent, name,
                                json_boolean(!strcasecmp(json_string_value(v), "true")));
        else if (!json_is_boolean(v))
            add_bind_error(errors, "SerializationException", path,
                           "'%s' is not a valid Boolean",
                           json_is_string(v) ? json_string_value(v) : "value");
    } else if ((!strcmp(name, "ID") || ends_with(name, "ID")) && !IN(name, string_id_fields)) {
        json_t *n = coerce_number(v, 1);
        if (!n)
            add_bind_error(errors, "SerializationException", path, "'%s' is not a valid Int32",
                           json_is_string(v) ? json_string_value(v) : "value");
        else
            json_object_set_new(parent, name, n);
    } else if (ends_with(name, "Date") || !strcmp(name, "OccurredAt")) {
        int64_t ms = json_is_string(v) ? cs_parse_iso(json_string_value(v)) : -1;
        char buf[32];
        if (json_is_string(v) && json_string_length(v) == 0)
            return;
        if (ms < 0)
            add_bind_error(errors, "SerializationException", path,
                           "'%s' is not a valid DateTime",
                           json_is_string(v) ? json_string_value(v) : "value");
        else
            json_object_set_new(parent, name, json_string(cs_format_iso(buf, sizeof buf, ms)));
    } else if (!strcmp(name, "CustomKey") || ends_with(name, "Key") || !strcmp(name, "Name")) {
        if (json_is_integer(v)) { /* ServiceStack binds numbers into strings */
            char buf[32];
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
            json_object_set_new(parent, name, json_string(buf));
        } else if (!json_is_string(v)) {
            add_bind_error(errors, "SerializationException", path, "expected a String");
        } else if (!strcmp(name, "CustomKey") && json_string_length(v) > 128) {
            add_bind_error(errors, "MaximumLength", path,
                           "'Custom Key' must be 128 characters or fewer. You entered %zu "
                           "characters.", json_string_length(v));
        }
    }
}

/* Bind a request body into a fresh record; 0 or 400 with *reply. */
static unsigned bind_body(const json_t *body, json_t **out, json_t **reply)
{
    *out = NULL;
    if (!json_is_object(body)) {
        *reply = errorf("SerializationException", 0,
                        "Could not deserialize 'application/json' request: expected a JSON "
                        "object");
        return 400;
    }
    json_t *doc = json_deep_copy(body);
    json_t *errors = json_array();
    bind_object(doc, "", errors);
    if (json_array_size(errors)) {
        json_t *first = json_array_get(errors, 0);
        char msg[400];
        snprintf(msg, sizeof msg, "%s: %s",
                 json_string_value(json_object_get(first, "FieldName")),
                 json_string_value(json_object_get(first, "Message")));
        *reply = cl_error(json_string_value(json_object_get(first, "ErrorCode")), msg, errors, 0);
        json_decref(doc);
        return 400;
    }
    json_decref(errors);
    *out = doc;
    return 0;
}

/* ---------------------------------------------------------------- helpers */

static const char *str(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v && *v ? v : NULL;
}

static int64_t id_of(const json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

static double round2(double x)
{
    return round(x * 100.0) / 100.0;
}

static double numv(const json_t *o, const char *k, double dflt)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

static void now_iso(char *buf, size_t len)
{
    cs_format_iso(buf, len, cs_now_ms());
}

/* Record by ID (>0) or by an active CustomKey.  New reference or NULL. */
static json_t *lookup(clarity_server *s, const centity *e, int64_t id, const char *key)
{
    if (id > 0)
        return cs_get(s->store, e->name, id);
    if (key) {
        int64_t k = cs_find_key(s->store, e->name, key, 1);
        return k ? cs_get(s->store, e->name, k) : NULL;
    }
    return NULL;
}

static void set_status(json_t *doc, const char *key)
{
    json_object_set_new(doc, "StatusKey", json_string(key));
    int id = status_id(key);
    if (id)
        json_object_set_new(doc, "StatusID", json_integer(id));
}

/* Store doc and record its event, in the caller's transaction. */
static int save(clarity_server *s, const centity *e, const json_t *doc, const char *what)
{
    if (cs_put(s->store, e->name, doc))
        return -1;
    char type[96];
    snprintf(type, sizeof type, "%s.%s", e->name, what);
    json_t *copy = json_deep_copy(doc);
    cl_omit_empty(copy);
    int rc = webhook_enqueue(s->wh, type, copy);
    json_decref(copy);
    return rc;
}

/* ---------------------------------------------------------------- relations and sales rules */

/* Resolve an ID/Key(/Name) triple against entity target; 0 or -1 with a message. */
static int resolve_ref(clarity_server *s, json_t *doc, const char *prefix, const char *target,
                       int with_name, char *msg, size_t msglen)
{
    char kid[64], kkey[64], kname[64];
    snprintf(kid, sizeof kid, "%sID", prefix);
    snprintf(kkey, sizeof kkey, "%sKey", prefix);
    snprintf(kname, sizeof kname, "%sName", prefix);
    int64_t id = id_of(doc, kid);
    const char *key = str(doc, kkey);
    if (!id && !key)
        return 0;
    const centity *te = clarity_entity_by_name(target);
    json_t *rec = lookup(s, te, id, id ? NULL : key);
    if (!rec) {
        if (id)
            snprintf(msg, msglen, "%s %lld was not found", target, (long long)id);
        else
            snprintf(msg, msglen, "%s with Key '%s' was not found", target, key);
        return -1;
    }
    json_object_set_new(doc, kid, json_integer(id_of(rec, "ID")));
    if (str(rec, "CustomKey"))
        json_object_set_new(doc, kkey, json_string(str(rec, "CustomKey")));
    if (with_name && str(rec, "Name") && !str(doc, kname))
        json_object_set_new(doc, kname, json_string(str(rec, "Name")));
    json_decref(rec);
    return 0;
}

/* The Discount behind an applied discount entry: by coupon Code (a DiscountCode), DiscountID or
 * DiscountKey.  New reference to an active Discount, or NULL with msg. */
static json_t *applied_discount(clarity_server *s, const json_t *d, char *msg, size_t msglen)
{
    const centity *dc = clarity_entity_by_name("DiscountCode");
    const centity *de = clarity_entity_by_name("Discount");
    json_t *disc = NULL;
    const char *code = str(d, "Code");
    if (code) {
        json_t *c = lookup(s, dc, 0, code);
        if (!c) { /* by the Code member when the CustomKey differs */
            cs_filter f;
            memset(&f, 0, sizeof f);
            f.active = 1;
            json_t *vals = json_pack("[s]", code), *found = NULL;
            int64_t total = 0;
            f.conds[0].path = "$.Code";
            f.conds[0].values = vals;
            f.nconds = 1;
            if (!cs_search(s->store, dc->name, &f, 1, 0, &found, &total) &&
                json_array_size(found))
                c = json_incref(json_array_get(found, 0));
            json_decref(found);
            json_decref(vals);
        }
        if (c && json_is_true(json_object_get(c, "Active")))
            disc = cs_get(s->store, de->name, id_of(c, "DiscountID"));
        json_decref(c);
        if (!disc) {
            snprintf(msg, msglen, "Invalid discount code '%s'", code);
            return NULL;
        }
    } else if (id_of(d, "DiscountID") || str(d, "DiscountKey")) {
        disc = lookup(s, de, id_of(d, "DiscountID"), str(d, "DiscountKey"));
        if (!disc) {
            snprintf(msg, msglen, "Discount %s was not found",
                     str(d, "DiscountKey") ? str(d, "DiscountKey") : "(by ID)");
            return NULL;
        }
    } else {
        return NULL; /* a manual discount: DiscountTotal as given */
    }
    if (!json_is_true(json_object_get(disc, "Active"))) {
        const char *dk = str(disc, "CustomKey");
        snprintf(msg, msglen, "Discount '%s' is not active", dk ? dk : "?");
        json_decref(disc);
        return NULL;
    }
    return disc;
}

/* Line prices, discounts, totals and balance of a sales document; 0 or -1 with msg.
 * A storefront may send the order currency as CurrencyKey (the SalesOrder model has no
 * header currency): it becomes each line's SellingCurrencyKey / OriginalCurrencyKey. */
static int sales_rules(clarity_server *s, const centity *e, json_t *doc, char *msg,
                       size_t msglen)
{
    const centity *pe = clarity_entity_by_name("Product");
    json_t *lines = json_object_get(doc, "SalesItems");
    double subtotal = 0, items = 0;
    int64_t doc_id = id_of(doc, "ID");
    char currency[16] = "";
    if (str(doc, "CurrencyKey"))
        snprintf(currency, sizeof currency, "%s", str(doc, "CurrencyKey"));
    json_object_del(doc, "CurrencyKey");
    if (lines && !json_is_array(lines) && !json_is_null(lines)) {
        snprintf(msg, msglen, "SalesItems must be a list");
        return -1;
    }
    size_t i;
    json_t *line;
    json_array_foreach(lines, i, line) {
        if (!json_is_object(line)) {
            snprintf(msg, msglen, "SalesItems[%zu] must be an object", i);
            return -1;
        }
        json_t *prod = NULL;
        int64_t pid = id_of(line, "ProductID");
        const char *pkey = str(line, "ProductKey");
        if (pid || pkey) {
            prod = lookup(s, pe, pid, pid ? NULL : pkey);
            if (!prod) {
                if (pid)
                    snprintf(msg, msglen, "SalesItems[%zu]: Product %lld was not found", i,
                             (long long)pid);
                else
                    snprintf(msg, msglen, "SalesItems[%zu]: Product with Key '%s' was not found",
                             i, pkey);
                return -1;
            }
        } else if (str(line, "Sku")) {
            prod = lookup(s, pe, 0, str(line, "Sku")); /* non-catalog lines keep their Sku */
        }
        if (prod) {
            json_object_set_new(line, "ProductID", json_integer(id_of(prod, "ID")));
            json_object_set_new(line, "ProductKey", json_string(str(prod, "CustomKey")));
            if (str(prod, "Name"))
                json_object_set_new(line, "ProductName", json_string(str(prod, "Name")));
            if (!str(line, "Sku"))
                json_object_set_new(line, "Sku", json_string(str(prod, "CustomKey")));
            if (!str(line, "Name") && str(prod, "Name"))
                json_object_set_new(line, "Name", json_string(str(prod, "Name")));
            if (!str(line, "UnitOfMeasure") && str(prod, "UnitOfMeasure"))
                json_object_set_new(line, "UnitOfMeasure",
                                    json_string(str(prod, "UnitOfMeasure")));
            if (!json_is_number(json_object_get(line, "UnitCorePrice")) &&
                json_is_number(json_object_get(prod, "PriceBase")))
                json_object_set(line, "UnitCorePrice", json_object_get(prod, "PriceBase"));
        }
        json_decref(prod);
        if (!str(line, "Sku") && !id_of(line, "ProductID")) {
            snprintf(msg, msglen, "SalesItems[%zu]: a line needs ProductID, ProductKey or Sku", i);
            return -1;
        }
        json_t *q = json_object_get(line, "Quantity");
        if (!json_is_number(q) || json_number_value(q) <= 0) {
            snprintf(msg, msglen, "SalesItems[%zu]: 'Quantity' must be greater than '0'", i);
            return -1;
        }
        if (!json_is_number(json_object_get(line, "UnitSoldPrice"))) {
            json_t *core = json_object_get(line, "UnitCorePrice");
            if (!json_is_number(core)) {
                snprintf(msg, msglen, "SalesItems[%zu]: no UnitSoldPrice and no catalog price", i);
                return -1;
            }
            json_object_set(line, "UnitSoldPrice", core);
        }
        if (!id_of(line, "ID") && doc_id)
            json_object_set_new(line, "ID", json_integer(doc_id * 1000 + (json_int_t)i + 1));
        if (doc_id)
            json_object_set_new(line, "MasterID", json_integer(doc_id));
        if (!json_object_get(line, "Active"))
            json_object_set_new(line, "Active", json_true());
        if (currency[0]) {
            json_object_set_new(line, "SellingCurrencyKey", json_string(currency));
            json_object_set_new(line, "OriginalCurrencyKey", json_string(currency));
        }
        double ext = round2(json_number_value(q) * numv(line, "UnitSoldPrice", 0));
        json_object_set_new(line, "ExtendedPrice", json_real(ext));
        subtotal += ext;
        items += json_number_value(q);
    }
    subtotal = round2(subtotal);
    json_object_set_new(doc, "ItemQuantity", json_real(items));

    double discounts = 0;
    json_t *dl = json_object_get(doc, "Discounts"), *d;
    if (dl && !json_is_array(dl) && !json_is_null(dl)) {
        snprintf(msg, msglen, "Discounts must be a list");
        return -1;
    }
    json_array_foreach(dl, i, d) {
        double amount;
        msg[0] = '\0';
        json_t *disc = applied_discount(s, d, msg, msglen);
        if (msg[0])
            return -1;
        if (disc) {
            double value = numv(disc, "Value", 0);
            int percent = (int)numv(disc, "ValueType", 0) == 0;
            amount = round2(percent ? subtotal * value / 100.0 : value);
            json_object_del(d, "Code");
            json_object_set_new(d, "DiscountID", json_integer(id_of(disc, "ID")));
            if (str(disc, "CustomKey"))
                json_object_set_new(d, "DiscountKey", json_string(str(disc, "CustomKey")));
            if (str(disc, "Name"))
                json_object_set_new(d, "DiscountName", json_string(str(disc, "Name")));
            json_object_set_new(d, "DiscountValue", json_real(value));
            json_object_set_new(d, "DiscountValueType", json_integer(percent ? 0 : 1));
            json_decref(disc);
        } else {
            amount = round2(numv(d, "DiscountTotal", 0));
        }
        if (doc_id)
            json_object_set_new(d, "MasterID", json_integer(doc_id));
        json_object_set_new(d, "DiscountTotal", json_real(amount));
        discounts += amount;
    }
    json_t *tot = json_object_get(doc, "Totals");
    if (!json_is_object(tot)) {
        tot = json_object();
        json_object_set_new(doc, "Totals", tot);
    }
    double ship = round2(numv(tot, "Shipping", 0)), hand = round2(numv(tot, "Handling", 0));
    double fees = round2(numv(tot, "Fees", 0)), tax = round2(numv(tot, "Tax", 0));
    double total = round2(subtotal - discounts + ship + hand + fees + tax);
    if (total < 0)
        total = 0;
    json_object_set_new(tot, "SubTotal", json_real(subtotal));
    json_object_set_new(tot, "Shipping", json_real(ship));
    json_object_set_new(tot, "Handling", json_real(hand));
    json_object_set_new(tot, "Fees", json_real(fees));
    json_object_set_new(tot, "Discounts", json_real(round2(discounts)));
    json_object_set_new(tot, "Tax", json_real(tax));
    json_object_set_new(tot, "Total", json_real(total));
    double paid = 0;
    json_t *pays = json_object_get(doc, "SalesOrderPayments"), *p;
    json_array_foreach(pays, i, p) {
        const json_t *sl = json_object_get(p, "Slave");
        if (!json_is_false(json_object_get(sl, "Authorized")))   /* a declined one paid nothing */
            paid += numv(sl, "Amount", 0);
    }
    json_object_set_new(doc, "BalanceDue", json_real(round2(total - paid)));
    (void)e;
    return 0;
}

/* Relations and entity rules for a record about to be stored; 0 or -1 with msg. */
static int normalise(clarity_server *s, const centity *e, json_t *doc, char *msg, size_t msglen)
{
    if ((!strcmp(e->name, "Account") || !strcmp(e->name, "Product")) && !str(doc, "Name")) {
        snprintf(msg, msglen, "'Name' must not be empty");
        return -1;
    }
    if (str(doc, "Name") && json_string_length(json_object_get(doc, "Name")) > 128) {
        snprintf(msg, msglen, "'Name' must be 128 characters or fewer");
        return -1;
    }
    if (strcmp(e->name, "Account") && resolve_ref(s, doc, "Account", "Account", 1, msg, msglen))
        return -1;
    if (!strcmp(e->name, "DiscountCode") &&
        resolve_ref(s, doc, "Discount", "Discount", 1, msg, msglen))
        return -1;
    if (e->default_status && !str(doc, "StatusKey"))
        set_status(doc, e->default_status);
    else if (str(doc, "StatusKey") && status_id(str(doc, "StatusKey")))
        json_object_set_new(doc, "StatusID", json_integer(status_id(str(doc, "StatusKey"))));
    if (e->flags & CE_SALES)
        return sales_rules(s, e, doc, msg, msglen);
    return 0;
}

/* ---------------------------------------------------------------- writes */

static int same_except_dates(const json_t *a, const json_t *b)
{
    json_t *x = json_deep_copy(a), *y = json_deep_copy(b);
    json_object_del(x, "UpdatedDate");
    json_object_del(y, "UpdatedDate");
    cl_omit_empty(x);
    cl_omit_empty(y);
    int eq = json_equal(x, y);
    json_decref(x);
    json_decref(y);
    return eq;
}

unsigned cl_write(clarity_server *s, const centity *e, const json_t *body, int mode,
                  json_t **reply)
{
    json_t *in = NULL, *doc = NULL, *old = NULL;
    unsigned status = bind_body(body, &in, reply);
    char msg[512] = "", now[32];
    if (status)
        return status;
    now_iso(now, sizeof now);
    const char *key = str(in, "CustomKey");
    int64_t want_id = id_of(in, "ID");

    cs_lock(s->store);
    if (cs_begin(s->store)) {
        *reply = db_error(s);
        status = 500;
        goto unlock;
    }
    if (mode != CL_CREATE) {
        if (want_id > 0)
            old = cs_get(s->store, e->name, want_id);
        if (!old && key && (mode == CL_UPSERT || want_id <= 0))
            old = lookup(s, e, 0, key);
        if (!old && mode == CL_UPDATE) {
            *reply = errorf("NotFound", 1, "%s %s was not found", e->name, want_id > 0 ? "ID" :
                            "with that CustomKey");
            status = 404;
            goto rollback;
        }
    }
    if (old) {
        doc = json_deep_copy(old);
        const char *k;
        json_t *v;
        json_object_foreach(in, k, v) {
            if (!strcmp(k, "ID") || !strcmp(k, "CreatedDate") || !strcmp(k, "UpdatedDate"))
                continue;
            if (json_is_null(v))
                json_object_del(doc, k);
            else
                json_object_set(doc, k, v);
        }
        /* state changes go through the state actions, not through Update */
        if ((e->flags & CE_ORDER) && str(old, "StatusKey"))
            json_object_set(doc, "StatusKey", json_object_get(old, "StatusKey"));
    } else {
        /* ID, CustomKey, Active, CreatedDate first, then the body's members */
        doc = json_object();
        json_object_set_new(doc, "ID", json_integer(cs_next_id(s->store, e->name)));
        if (key)
            json_object_set_new(doc, "CustomKey", json_string(key));
        json_object_set_new(doc, "Active", json_is_false(json_object_get(in, "Active"))
                                               ? json_false() : json_true());
        json_object_set_new(doc, "CreatedDate",
                            json_string(str(in, "CreatedDate") ? str(in, "CreatedDate") : now));
        const char *k;
        json_t *v;
        json_object_foreach(in, k, v) {
            if (strcmp(k, "ID") && strcmp(k, "CustomKey") && strcmp(k, "Active") &&
                strcmp(k, "CreatedDate") && strcmp(k, "UpdatedDate") && !json_is_null(v))
                json_object_set(doc, k, v);
        }
    }
    key = str(doc, "CustomKey");
    if (key && json_is_true(json_object_get(doc, "Active"))) {
        int64_t other = cs_find_key(s->store, e->name, key, 1);
        if (other && other != id_of(doc, "ID")) {
            *reply = errorf("DuplicateCustomKey", 1,
                            "A %s with CustomKey '%s' already exists (ID %lld)", e->name, key,
                            (long long)other);
            status = 400;
            goto rollback;
        }
    }
    if (normalise(s, e, doc, msg, sizeof msg)) {
        *reply = errorf("ArgumentException", 1, "%s", msg);
        status = 400;
        goto rollback;
    }
    int64_t id = id_of(doc, "ID");
    if (old && same_except_dates(old, doc)) {
        cs_rollback(s->store);
        *reply = cl_ok(json_integer(id));
        status = 200;
        goto unlock;
    }
    if (old)
        json_object_set_new(doc, "UpdatedDate", json_string(now));
    if (save(s, e, doc, old ? "Updated" : "Created") || cs_commit(s->store)) {
        *reply = db_error(s);
        status = 500;
        goto rollback;
    }
    *reply = cl_ok(json_integer(id));
    status = 200;
    cs_unlock(s->store);
    webhook_kick(s->wh);
    goto done;
rollback:
    cs_rollback(s->store);
unlock:
    cs_unlock(s->store);
done:
    json_decref(in);
    json_decref(doc);
    json_decref(old);
    return status;
}

unsigned cl_get(clarity_server *s, const centity *e, int64_t id, const char *key, json_t **reply)
{
    cs_lock(s->store);
    json_t *doc = key ? lookup(s, e, 0, key) : cs_get(s->store, e->name, id);
    if (key && !doc) { /* Key routes also find inactive rows */
        int64_t k = cs_find_key(s->store, e->name, key, 0);
        doc = k ? cs_get(s->store, e->name, k) : NULL;
    }
    cs_unlock(s->store);
    if (!doc) {
        *reply = key ? errorf("NotFound", 0, "%s with Key '%s' was not found", e->name, key)
                     : errorf("NotFound", 0, "%s %lld was not found", e->name, (long long)id);
        return 404;
    }
    *reply = doc;
    return 200;
}

unsigned cl_exists(clarity_server *s, const centity *e, int64_t id, const char *key,
                   json_t **reply)
{
    cs_lock(s->store);
    int64_t found = 0;
    if (key) {
        found = cs_find_key(s->store, e->name, key, 0);
    } else {
        json_t *doc = cs_get(s->store, e->name, id);
        found = doc ? id : 0;
        json_decref(doc);
    }
    cs_unlock(s->store);
    *reply = found ? json_integer(found) : json_null();
    return 200;
}

unsigned cl_set_active(clarity_server *s, const centity *e, int64_t id, const char *key,
                       int active, json_t **reply)
{
    char now[32];
    unsigned status = 200;
    now_iso(now, sizeof now);
    cs_lock(s->store);
    json_t *doc = NULL;
    if (key) {
        int64_t k = cs_find_key(s->store, e->name, key, 0);
        doc = k ? cs_get(s->store, e->name, k) : NULL;
    } else {
        doc = cs_get(s->store, e->name, id);
    }
    if (!doc) {
        *reply = errorf("NotFound", 1, "%s was not found", e->name);
        status = 404;
        goto unlock;
    }
    if (cs_begin(s->store)) {
        *reply = db_error(s);
        status = 500;
        goto unlock;
    }
    int rc;
    if (active < 0) {
        rc = cs_delete(s->store, e->name, id_of(doc, "ID")) < 0;
        if (!rc) {
            json_t *copy = json_deep_copy(doc);
            cl_omit_empty(copy);
            char type[96];
            snprintf(type, sizeof type, "%s.Deleted", e->name);
            rc = webhook_enqueue(s->wh, type, copy);
            json_decref(copy);
        }
    } else if (json_is_true(json_object_get(doc, "Active")) == (active == 1)) {
        rc = 0; /* already in that state */
    } else {
        json_object_set_new(doc, "Active", json_boolean(active));
        json_object_set_new(doc, "UpdatedDate", json_string(now));
        rc = save(s, e, doc, "Updated");
    }
    if (rc || cs_commit(s->store)) {
        cs_rollback(s->store);
        *reply = db_error(s);
        status = 500;
        goto unlock;
    }
    *reply = cl_ok(NULL);
unlock:
    cs_unlock(s->store);
    if (status == 200)
        webhook_kick(s->wh);
    json_decref(doc);
    return status;
}

/* ---------------------------------------------------------------- search */

/* A list parameter: a JSON array, or "a,b,c", or "[a,b,c]". New array or NULL (bad int). */
static json_t *list_arg(const json_t *v, int integer, const char *name, char *msg, size_t msglen)
{
    json_t *out = json_array();
    if (json_is_array(v)) {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m) {
            json_t *n = integer ? coerce_number(m, 1) : json_is_string(m) ? json_incref(m) : NULL;
            if (!n) {
                snprintf(msg, msglen, "%s: not a list of %s", name,
                         integer ? "integers" : "strings");
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, n);
        }
        return out;
    }
    const char *t = json_string_value(v);
    if (!t)
        return out;
    char *copy = strdup(t), *p = copy, *tok, *save_ptr = NULL;
    size_t n = strlen(p);
    if (n && p[0] == '[' && p[n - 1] == ']') {
        p[n - 1] = '\0';
        p++;
    }
    for (tok = strtok_r(p, ",", &save_ptr); tok; tok = strtok_r(NULL, ",", &save_ptr)) {
        while (isspace((unsigned char)*tok) || *tok == '"')
            tok++;
        char *end = tok + strlen(tok);
        while (end > tok && (isspace((unsigned char)end[-1]) || end[-1] == '"'))
            *--end = '\0';
        if (!*tok)
            continue;
        if (integer) {
            char *e2;
            long long x = strtoll(tok, &e2, 10);
            if (*e2) {
                snprintf(msg, msglen, "%s: '%s' is not a valid Int32", name, tok);
                json_decref(out);
                free(copy);
                return NULL;
            }
            json_array_append_new(out, json_integer(x));
        } else {
            json_array_append_new(out, json_string(tok));
        }
    }
    free(copy);
    return out;
}

static const char *arg_text(const json_t *args, const char *name, char *buf, size_t len)
{
    json_t *v = json_object_get(args, name);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    return NULL;
}

static int arg_int(const json_t *args, const char *name, int64_t *out, char *msg, size_t msglen)
{
    char buf[32];
    const char *t = arg_text(args, name, buf, sizeof buf);
    if (!t || !*t)
        return 0;
    char *end;
    long long v = strtoll(t, &end, 10);
    if (*end) {
        snprintf(msg, msglen, "%s: '%s' is not a valid Int32", name, t);
        return -1;
    }
    *out = v;
    return 1;
}

/* Per-entity filters: lowercased parameter -> JSON path, integer? */
static const struct {
    const char *param, *path;
    int integer;
} search_conds[] = {
    {"statuskeys", "$.StatusKey", 0},  {"statuskey", "$.StatusKey", 0},
    {"accountkey", "$.AccountKey", 0}, {"accountid", "$.AccountID", 1},
    {"userkey", "$.UserKey", 0},       {"typekeys", "$.TypeKey", 0},
    {"code", "$.Code", 0},
};

unsigned cl_search(clarity_server *s, const centity *e, const json_t *args, json_t **reply)
{
    char msg[256] = "", buf[32];
    cs_filter f;
    memset(&f, 0, sizeof f);
    f.active = -1;
    json_t *owned[CS_MAX_CONDS + 2] = {0};
    int nowned = 0;
    unsigned status = 400;
    int64_t size = 0, page = 1;

    /* Paging: Paging.Size / Paging.StartIndex, flat Size / StartIndex, or a Paging object */
    json_t *paging = json_object_get(args, "paging");
    int64_t v;
    if (json_is_object(paging)) {
        json_t *ps = json_object_get(paging, "Size"), *pi = json_object_get(paging, "StartIndex");
        if ((ps && !json_is_integer(ps) && !json_is_null(ps)) ||
            (pi && !json_is_integer(pi) && !json_is_null(pi))) {
            snprintf(msg, sizeof msg, "Paging: Size and StartIndex must be integers");
            goto bad;
        }
        size = json_integer_value(ps);
        page = pi && json_is_integer(pi) ? json_integer_value(pi) : 1;
    }
    const char *size_names[] = {"paging.size", "size"}, *start_names[] = {"paging.startindex",
                                                                          "startindex"};
    for (int i = 0; i < 2; i++) {
        int r = arg_int(args, size_names[i], &v, msg, sizeof msg);
        if (r < 0)
            goto bad;
        if (r)
            size = v;
        r = arg_int(args, start_names[i], &v, msg, sizeof msg);
        if (r < 0)
            goto bad;
        if (r)
            page = v;
    }
    if (size < 0)
        size = 0;
    if (page < 1)
        page = 1;
    int paged = size > 0;
    if (!paged && s->opt.page_size) {
        size = s->opt.page_size;
        page = 1;
    }

    const char *t = arg_text(args, "modifiedsince", buf, sizeof buf);
    if (t && *t) {
        f.modified_since_ms = cs_parse_iso(t);
        if (f.modified_since_ms < 0) {
            snprintf(msg, sizeof msg, "ModifiedSince: '%s' is not a valid DateTime", t);
            goto bad;
        }
        if (f.modified_since_ms == 0)
            f.modified_since_ms = 1;
    }
    static const char *const date_args[] = {"mindate", "maxdate"};
    for (int d = 0; d < 2; d++) {
        t = arg_text(args, date_args[d], buf, sizeof buf);
        if (!t || !*t)
            continue;
        int64_t ms = cs_parse_iso(t);
        if (ms < 0) {
            snprintf(msg, sizeof msg, "%s: '%s' is not a valid DateTime",
                     d ? "MaxDate" : "MinDate", t);
            goto bad;
        }
        if (d)
            f.max_created_ms = ms > 0 ? ms : 1;
        else
            f.min_created_ms = ms > 0 ? ms : 1;
    }
    json_t *a = json_object_get(args, "ids");
    if (a) {
        if (!(owned[nowned++] = list_arg(a, 1, "IDs", msg, sizeof msg)))
            goto bad;
        f.ids = owned[nowned - 1];
    }
    a = json_object_get(args, "customkeys");
    if (a) {
        if (!(owned[nowned++] = list_arg(a, 0, "CustomKeys", msg, sizeof msg)))
            goto bad;
        f.keys = owned[nowned - 1];
    }
    t = arg_text(args, "active", buf, sizeof buf);
    if (t && *t) {
        if (!strcasecmp(t, "true"))
            f.active = 1;
        else if (!strcasecmp(t, "false"))
            f.active = 0;
        else {
            snprintf(msg, sizeof msg, "Active: '%s' is not a valid Boolean", t);
            goto bad;
        }
    }
    for (size_t i = 0; i < sizeof search_conds / sizeof *search_conds && f.nconds < CS_MAX_CONDS;
         i++) {
        a = json_object_get(args, search_conds[i].param);
        if (!a || (json_is_string(a) && !json_string_length(a)))
            continue;
        json_t *vals = list_arg(a, search_conds[i].integer, search_conds[i].param, msg,
                                sizeof msg);
        if (!vals)
            goto bad;
        owned[nowned++] = vals;
        f.conds[f.nconds].path = search_conds[i].path;
        f.conds[f.nconds].values = vals;
        f.nconds++;
        if (nowned >= CS_MAX_CONDS + 2)
            break;
    }

    json_t *results = NULL;
    int64_t total = 0;
    cs_lock(s->store);
    int rc = cs_search(s->store, e->name, &f, size, size > 0 ? (page - 1) * size : 0, &results,
                       &total);
    cs_unlock(s->store);
    if (rc) {
        *reply = db_error(s);
        status = 500;
        goto done;
    }
    size_t i;
    json_t *r;
    json_array_foreach(results, i, r) cl_omit_empty(r);
    int64_t pages = size > 0 ? (total + size - 1) / size : (total > 0 ? 1 : 0);
    *reply = json_pack("{s:o,s:I,s:I,s:I,s:I}", "Results", results, "TotalCount",
                       (json_int_t)total, "TotalPages", (json_int_t)pages, "CurrentPage",
                       (json_int_t)page, "CurrentCount", (json_int_t)json_array_size(results));
    status = 200;
    goto done;
bad:
    *reply = cl_error("ArgumentException", msg, NULL, 0);
done:
    for (int k = 0; k < nowned; k++)
        json_decref(owned[k]);
    return status;
}

unsigned cl_digest(clarity_server *s, const centity *e, json_t **reply)
{
    cs_lock(s->store);
    int rc = cs_digest(s->store, e->name, reply);
    cs_unlock(s->store);
    if (rc) {
        *reply = db_error(s);
        return 500;
    }
    return 200;
}

/* ---------------------------------------------------------------- sales order actions */

int cl_is_order_action(const char *action)
{
    for (size_t i = 0; i < sizeof order_actions / sizeof *order_actions; i++)
        if (!strcasecmp(order_actions[i].action, action))
            return 1;
    return 0;
}

static int terminal(const char *st)
{
    return st && (!strcmp(st, "Completed") || !strcmp(st, "Void"));
}

unsigned cl_order_action(clarity_server *s, const char *action, int64_t id, const json_t *body,
                         json_t **reply)
{
    const centity *oe = clarity_entity_by_name("SalesOrder");
    const centity *she = clarity_entity_by_name("Shipment");
    const centity *pe = clarity_entity_by_name("Payment");
    const char *target = NULL, *canon = action;
    unsigned status = 200;
    char now[32];
    for (size_t i = 0; i < sizeof order_actions / sizeof *order_actions; i++)
        if (!strcasecmp(order_actions[i].action, action)) {
            target = order_actions[i].status;
            canon = order_actions[i].action;
        }
    now_iso(now, sizeof now);
    cs_lock(s->store);
    json_t *doc = cs_get(s->store, oe->name, id);
    if (!doc) {
        *reply = errorf("NotFound", 1, "SalesOrder %lld was not found", (long long)id);
        status = 404;
        goto unlock;
    }
    const char *cur = str(doc, "StatusKey");
    if (target && cur && !strcmp(cur, target)) {
        *reply = cl_ok(json_integer(id)); /* already there: idempotent */
        goto unlock;
    }
    if (terminal(cur)) {
        *reply = errorf("InvalidOperationException", 1, "Cannot %s sales order %lld: it is %s",
                        canon, (long long)id, cur);
        status = 400;
        goto unlock;
    }
    if (!strcmp(canon, "Ship") && cur && !strcmp(cur, "OnHold")) {
        *reply = errorf("InvalidOperationException", 1,
                        "Cannot Ship sales order %lld: it is OnHold", (long long)id);
        status = 400;
        goto unlock;
    }
    if (!strcmp(canon, "Void") && cur &&
        (!strcmp(cur, "Shipped") || !strcmp(cur, "DropShipped"))) {
        *reply = errorf("InvalidOperationException", 1,
                        "Cannot Void sales order %lld: it is %s (create a return instead)",
                        (long long)id, cur);
        status = 400;
        goto unlock;
    }
    if (!strcmp(canon, "Complete") &&
        !(cur && (!strcmp(cur, "Shipped") || !strcmp(cur, "DropShipped") ||
                  !strcmp(cur, "ReadyForPickup")))) {
        *reply = errorf("InvalidOperationException", 1,
                        "Cannot Complete sales order %lld: it is %s, not Shipped", (long long)id,
                        cur ? cur : "new");
        status = 400;
        goto unlock;
    }
    if (cs_begin(s->store)) {
        *reply = db_error(s);
        status = 500;
        goto unlock;
    }
    int rc = 0;
    if (!strcmp(canon, "Ship") || !strcmp(canon, "DropShip")) {
        char tracking[40];
        const char *given = str(body, "TrackingNumber");
        if (given)
            snprintf(tracking, sizeof tracking, "%s", given);
        else
            snprintf(tracking, sizeof tracking, "1Z%06lld%010lld", (long long)id,
                     (long long)(cs_now_ms() % 10000000000LL));
        json_object_set_new(doc, "TrackingNumber", json_string(tracking));
        json_object_set_new(doc, "ActualShipDate", json_string(now));
        int64_t ship_id = cs_next_id(s->store, she->name);
        json_t *sh = json_pack("{s:I,s:b,s:s,s:s,s:s,s:s,s:s,s:[I]}", "ID", (json_int_t)ship_id,
                               "Active", 1, "CreatedDate", now, "StatusKey", "Shipped",
                               "TrackingNumber", tracking, "ShipDate", now, "ShipCarrierKey",
                               str(body, "ShipCarrierKey") ? str(body, "ShipCarrierKey") : "UPS",
                               "SalesOrderIDs", (json_int_t)id);
        if (str(body, "ShipCarrierMethodKey"))
            json_object_set_new(sh, "ShipCarrierMethodKey",
                                json_string(str(body, "ShipCarrierMethodKey")));
        if (json_is_object(json_object_get(doc, "ShippingContact")))
            json_object_set(sh, "DestinationContact", json_object_get(doc, "ShippingContact"));
        json_object_set_new(doc, "ShipmentID", json_integer(ship_id));
        rc = save(s, she, sh, "Created");
        json_decref(sh);
    }
    if (!strcmp(canon, "CapturePayment")) {
        json_t *pays = json_object_get(doc, "SalesOrderPayments"), *p;
        size_t i;
        json_array_foreach(pays, i, p) {
            json_t *pay = cs_get(s->store, pe->name, id_of(p, "SlaveID"));
            if (pay && !json_is_true(json_object_get(pay, "Received"))) {
                json_object_set_new(pay, "Received", json_true());
                json_object_set_new(pay, "ReceivedDate", json_string(now));
                json_object_set_new(pay, "UpdatedDate", json_string(now));
                rc |= save(s, pe, pay, "Updated");
                json_object_set(p, "Slave", pay);
            }
            json_decref(pay);
        }
    }
    if (target) {
        json_t *evs = json_object_get(doc, "SalesEvents");
        if (!json_is_array(evs)) {
            evs = json_array();
            json_object_set_new(doc, "SalesEvents", evs);
        }
        char desc[128];
        snprintf(desc, sizeof desc, "%s: status %s -> %s", canon, cur ? cur : "(none)", target);
        json_t *ev = json_pack("{s:I,s:b,s:s,s:s,s:s,s:s,s:I,s:i}", "ID",
                               (json_int_t)(id * 1000 + 500 + (json_int_t)json_array_size(evs)),
                               "Active", 1, "CreatedDate", now, "Name", canon, "Description",
                               desc, "TypeKey", "StatusChange", "MasterID", (json_int_t)id,
                               "NewStatusID", status_id(target));
        if (cur && status_id(cur))
            json_object_set_new(ev, "OldStatusID", json_integer(status_id(cur)));
        json_array_append_new(evs, ev);
        set_status(doc, target);
        if (!strcmp(target, "Confirmed") && !str(doc, "OrderApprovedDate"))
            json_object_set_new(doc, "OrderApprovedDate", json_string(now));
    }
    json_object_set_new(doc, "UpdatedDate", json_string(now));
    rc |= save(s, oe, doc, "Updated");
    if (rc || cs_commit(s->store)) {
        cs_rollback(s->store);
        *reply = db_error(s);
        status = 500;
        goto unlock;
    }
    *reply = cl_ok(json_integer(id));
unlock:
    cs_unlock(s->store);
    if (status == 200)
        webhook_kick(s->wh);
    json_decref(doc);
    return status;
}

unsigned cl_add_payment(clarity_server *s, const json_t *body, json_t **reply)
{
    const centity *oe = clarity_entity_by_name("SalesOrder");
    const centity *pe = clarity_entity_by_name("Payment");
    json_t *in = NULL, *doc = NULL, *pay = NULL;
    unsigned status = bind_body(body, &in, reply);
    char now[32];
    if (status)
        return status;
    status = 200;
    now_iso(now, sizeof now);
    int64_t oid = id_of(in, "SalesOrderID") ? id_of(in, "SalesOrderID") : id_of(in, "ID");
    json_t *pin = json_object_get(in, "Payment");
    pay = json_is_object(pin) ? json_deep_copy(pin) : json_deep_copy(in);
    json_object_del(pay, "Payment");
    json_object_del(pay, "SalesOrderID");
    json_object_del(pay, "ID");
    double amount = numv(pay, "Amount", -1);
    cs_lock(s->store);
    doc = oid ? cs_get(s->store, oe->name, oid) : NULL;
    if (!doc) {
        *reply = errorf("NotFound", 1, "SalesOrder %lld was not found", (long long)oid);
        status = 404;
        goto unlock;
    }
    if (terminal(str(doc, "StatusKey"))) {
        *reply = errorf("InvalidOperationException", 1, "Cannot add a payment: order is %s",
                        str(doc, "StatusKey"));
        status = 400;
        goto unlock;
    }
    double balance = numv(doc, "BalanceDue", 0);
    if (amount <= 0 || round2(amount) > round2(balance)) {
        *reply = errorf("ArgumentException", 1,
                        "Payment Amount must be greater than 0 and at most the balance due %.2f",
                        balance);
        status = 400;
        goto unlock;
    }
    if (cs_begin(s->store)) {
        *reply = db_error(s);
        status = 500;
        goto unlock;
    }
    int64_t pid = cs_next_id(s->store, pe->name);
    json_object_set_new(pay, "ID", json_integer(pid));
    json_object_set_new(pay, "Active", json_true());
    json_object_set_new(pay, "CreatedDate", json_string(now));
    json_object_set_new(pay, "Amount", json_real(round2(amount)));
    if (!str(pay, "CurrencyKey") && json_array_size(json_object_get(doc, "SalesItems"))) {
        const char *cur = str(json_array_get(json_object_get(doc, "SalesItems"), 0),
                              "SellingCurrencyKey");
        if (cur)
            json_object_set_new(pay, "CurrencyKey", json_string(cur));
    }
    if (!json_is_boolean(json_object_get(pay, "Authorized")))
        json_object_set_new(pay, "Authorized", json_true());
    if (!str(pay, "PaymentDate"))
        json_object_set_new(pay, "PaymentDate", json_string(now));
    json_t *list = json_object_get(doc, "SalesOrderPayments");
    if (!json_is_array(list)) {
        list = json_array();
        json_object_set_new(doc, "SalesOrderPayments", list);
    }
    json_t *link = json_pack("{s:I,s:b,s:s,s:I,s:I,s:O}", "ID", (json_int_t)pid, "Active", 1,
                             "CreatedDate", now, "MasterID", (json_int_t)oid, "SlaveID",
                             (json_int_t)pid, "Slave", pay);
    if (str(pay, "CustomKey"))
        json_object_set_new(link, "SlaveKey", json_string(str(pay, "CustomKey")));
    json_array_append_new(list, link);
    if (json_is_true(json_object_get(pay, "Authorized")))
        json_object_set_new(doc, "BalanceDue", json_real(round2(balance - amount)));
    json_object_set_new(doc, "UpdatedDate", json_string(now));
    if (str(pay, "TransactionNumber"))
        json_object_set_new(doc, "PaymentTransactionID",
                            json_string(str(pay, "TransactionNumber")));
    if (save(s, pe, pay, "Created") || save(s, oe, doc, "Updated") || cs_commit(s->store)) {
        cs_rollback(s->store);
        *reply = db_error(s);
        status = 500;
        goto unlock;
    }
    *reply = cl_ok(json_integer(pid));
unlock:
    cs_unlock(s->store);
    if (status == 200)
        webhook_kick(s->wh);
    json_decref(in);
    json_decref(doc);
    json_decref(pay);
    return status;
}

/* ---------------------------------------------------------------- inventory */

/* Stock lives on the product, as CEF's Product.ProductInventoryLocationSections: one row per
 * inventory location (the seed's warehouses), MasterID/MasterKey = the product,
 * SlaveID/SlaveKey = the location section, InventoryLocationSectionInventoryLocation{ID,Key,Name}
 * = the warehouse. */

static const char *const stock_fields[] = {
    "Quantity", "QuantityAllocated", "QuantityPreSold", "QuantityBroken",
};

/* Index of a warehouse named by a location object or request: SlaveKey,
 * InventoryLocationSectionInventoryLocationKey, InventoryLocationKey (key "11"), or SlaveID /
 * InventoryLocationSectionInventoryLocationID / RelevantLocationID (1-based location ID). 0 (the
 * first warehouse) when none is named, -1 when the named one does not exist. */
static int location_index(clarity_server *s, const json_t *o)
{
    static const char *const keys[] = {"SlaveKey", "InventoryLocationSectionInventoryLocationKey",
                                       "InventoryLocationKey"};
    static const char *const ids[] = {"SlaveID", "InventoryLocationSectionInventoryLocationID",
                                      "RelevantLocationID"};
    for (size_t i = 0; i < 3; i++) {
        const char *k = str(o, keys[i]);
        if (!k)
            continue;
        for (int w = 0; w < SEED_N_WAREHOUSES; w++)
            if (!strcmp(s->cat->warehouses[w].id, k))
                return w;
        return -1;
    }
    for (size_t i = 0; i < 3; i++) {
        int64_t id = id_of(o, ids[i]);
        if (id)
            return id >= 1 && id <= SEED_N_WAREHOUSES ? (int)id - 1 : -1;
    }
    return 0;
}

static json_t *location_row(clarity_server *s, const json_t *prod, int w, const char *now)
{
    const seed_warehouse *wh = &s->cat->warehouses[w];
    json_t *row = json_pack("{s:I,s:b,s:s,s:I,s:s,s:I,s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:s,s:s}",
                            "ID", (json_int_t)(id_of(prod, "ID") * 10 + w + 1), "Active", 1,
                            "CreatedDate", now, "MasterID", (json_int_t)id_of(prod, "ID"),
                            "MasterKey", str(prod, "CustomKey") ? str(prod, "CustomKey") : "",
                            "SlaveID", (json_int_t)(w + 1), "SlaveKey", wh->id, "SlaveName",
                            wh->name, "Quantity", 0, "QuantityAllocated", 0, "QuantityPreSold", 0,
                            "QuantityBroken", 0, "InventoryLocationSectionInventoryLocationID",
                            w + 1, "InventoryLocationSectionInventoryLocationKey", wh->id,
                            "InventoryLocationSectionInventoryLocationName", wh->name);
    if (str(prod, "Name"))
        json_object_set_new(row, "MasterName", json_string(str(prod, "Name")));
    return row;
}

/* Set the stock numbers `from` names on location w of prod; 0, or -1 with msg. */
static int set_stock(clarity_server *s, json_t *prod, int w, const json_t *from,
                     const char *const *names, const char *now, char *msg, size_t msglen)
{
    json_t *rows = json_object_get(prod, "ProductInventoryLocationSections");
    if (!json_is_array(rows)) {
        rows = json_array();
        json_object_set_new(prod, "ProductInventoryLocationSections", rows);
    }
    json_t *row = NULL, *r;
    size_t i;
    json_array_foreach(rows, i, r) if (id_of(r, "SlaveID") == w + 1) row = r;
    for (size_t k = 0; k < 4; k++) {
        json_t *v = json_object_get(from, names[k]);
        if (v && !json_is_number(v) && !json_is_null(v)) {
            snprintf(msg, msglen, "%s: '%s' is not a valid Decimal", names[k],
                     json_is_string(v) ? json_string_value(v) : "value");
            return -1;
        }
    }
    if (!row) {
        row = location_row(s, prod, w, now);
        json_array_append_new(rows, row);
    }
    for (size_t k = 0; k < 4; k++) {
        json_t *v = json_object_get(from, names[k]);
        if (json_is_number(v))
            json_object_set(row, stock_fields[k], v);
    }
    return 0;
}

/* One CalculatedInventory item (bulk) or UpdateInventoryForProduct body (single) applied to its
 * product in the current transaction.  0, -1 refused (msg), -2 store error. */
/* A bulk item's product-level figures stored on the product (0, or -1 with msg). */
static int apply_product_flags(json_t *prod, const json_t *item, char *msg, size_t msglen)
{
    static const char *const flags[] = {"IsUnlimitedStock", "IsDiscontinued", "AllowBackOrder",
                                        "AllowPreSale"};
    json_t *v = json_object_get(item, "MaximumPurchaseQuantity");
    if (v && !json_is_null(v) && !json_is_number(v)) {
        snprintf(msg, msglen, "MaximumPurchaseQuantity: '%s' is not a valid Decimal",
                 json_is_string(v) ? json_string_value(v) : "value");
        return -1;
    }
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++) {
        json_t *b = json_object_get(item, flags[i]);
        if (b && !json_is_null(b) && !json_is_boolean(b)) {
            snprintf(msg, msglen, "%s: not a valid Boolean", flags[i]);
            return -1;
        }
    }
    if (json_is_number(v))
        json_object_set(prod, "MaximumPurchaseQuantity", v);
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++) {
        json_t *b = json_object_get(item, flags[i]);
        if (json_is_boolean(b))
            json_object_set(prod, flags[i], b);
    }
    return 0;
}

static int apply_stock(clarity_server *s, const json_t *item, int bulk, const char *now,
                       int *changed, char *msg, size_t msglen)
{
    const centity *pe = clarity_entity_by_name("Product");
    static const char *const row_names[] = {"Quantity", "QuantityAllocated", "QuantityPreSold",
                                            "QuantityBroken"};
    static const char *const bulk_names[] = {"QuantityPresent", "QuantityAllocated",
                                             "QuantityPreSold", "QuantityBroken"};
    if (!json_is_object(item)) {
        snprintf(msg, msglen, "an inventory item must be an object");
        return -1;
    }
    int64_t pid = id_of(item, bulk ? "ProductID" : "ID");
    if (!pid && bulk)
        pid = id_of(item, "ID");
    const char *pkey = str(item, "ProductKey") ? str(item, "ProductKey") : str(item, "Sku");
    json_t *prod = lookup(s, pe, pid, pid ? NULL : pkey);
    if (!prod) {
        if (pid)
            snprintf(msg, msglen, "Product %lld was not found", (long long)pid);
        else
            snprintf(msg, msglen, "Product %s was not found",
                     pkey ? pkey : "(no ProductID)");
        return -1;
    }
    json_t *old = json_deep_copy(prod);
    int rc = 0;
    json_t *locs = json_object_get(item, "RelevantLocations");
    if (bulk && json_array_size(locs)) {
        size_t i;
        json_t *l;
        json_array_foreach(locs, i, l) {
            int w = location_index(s, l);
            if (w < 0) {
                snprintf(msg, msglen, "RelevantLocations[%zu]: unknown inventory location", i);
                rc = -1;
                break;
            }
            if ((rc = set_stock(s, prod, w, l, row_names, now, msg, msglen)))
                break;
        }
    } else {
        int w = location_index(s, item);
        json_t *from = json_deep_copy(item);
        if (bulk && !json_object_get(from, "QuantityPresent") &&
            json_object_get(from, "QuantityOnHand"))
            json_object_set(from, "QuantityPresent", json_object_get(from, "QuantityOnHand"));
        const char *const *names = bulk ? bulk_names : row_names;
        if (w < 0) {
            snprintf(msg, msglen, "unknown inventory location");
            rc = -1;
        } else if (!json_is_number(json_object_get(from, names[0])) &&
                   !json_is_number(json_object_get(from, names[1])) &&
                   !json_is_number(json_object_get(from, names[2]))) {
            json_t *q = json_object_get(from, names[0]);
            if (q && !json_is_null(q))
                snprintf(msg, msglen, "%s: '%s' is not a valid Decimal", names[0],
                         json_is_string(q) ? json_string_value(q) : "value");
            else
                snprintf(msg, msglen, "no quantity given (%s)", names[0]);
            rc = -1;
        } else {
            rc = set_stock(s, prod, w, from, names, now, msg, msglen);
        }
        json_decref(from);
    }
    if (!rc && bulk)
        rc = apply_product_flags(prod, item, msg, msglen);
    if (!rc && !same_except_dates(old, prod)) {
        json_object_set_new(prod, "UpdatedDate", json_string(now));
        if (save(s, pe, prod, "Updated")) {
            snprintf(msg, msglen, "%s", cs_errmsg(s->store));
            rc = -2;
        }
        *changed = 1;
    }
    json_decref(old);
    json_decref(prod);
    return rc;
}

unsigned cl_inventory_update(clarity_server *s, const json_t *body, int bulk, json_t **reply)
{
    json_t *items = NULL;
    char now[32], msg[256];
    now_iso(now, sizeof now);
    if (bulk) {
        json_t *push = json_object_get(body, "InventoryToPush");
        if (json_is_array(push))
            items = json_incref(push);
        else if (json_is_array(body))
            items = json_incref((json_t *)body);
        if (!items) {
            *reply = errorf("SerializationException", 0,
                            "BulkUpdateInventoryForProducts needs {\"InventoryToPush\": [...]}");
            return 400;
        }
    } else {
        if (!json_is_object(body)) {
            *reply = errorf("SerializationException", 0, "expected a JSON object");
            return 400;
        }
        items = json_pack("[O]", body);
    }
    /* ServiceStack deserializes the whole request before the service runs: an item member
     * of the wrong type (a quantity "lots", an ID "x") refuses the whole body with 400 */
    json_t *bound_items = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        json_t *bound = NULL, *refused = NULL;
        if (json_is_object(it) && bind_body(it, &bound, &refused)) {
            json_t *rs = json_object_get(refused, "ResponseStatus");
            const char *why = str(rs, "Message") ? str(rs, "Message") : "bad item";
            if (bulk) {
                snprintf(msg, sizeof msg, "InventoryToPush[%zu].%s", i, why);
                *reply = cl_error(str(rs, "ErrorCode") ? str(rs, "ErrorCode")
                                                       : "SerializationException",
                                  msg, json_incref(json_object_get(rs, "Errors")), 0);
            } else {
                snprintf(msg, sizeof msg, "Item %zu: %s", i, why);
                *reply = cl_error("ArgumentException", msg, NULL, 1);
            }
            json_decref(refused);
            json_decref(bound_items);
            json_decref(items);
            return 400;
        }
        json_array_append_new(bound_items, bound ? bound : json_incref(it));
    }
    unsigned status = 200;
    json_t *messages = json_array();
    int updated = 0, changed = 0;
    cs_lock(s->store);
    if (cs_begin(s->store)) {
        *reply = db_error(s);
        status = 500;
        goto unlock;
    }
    json_array_foreach(bound_items, i, it) {
        int ch = 0;
        int rc = apply_stock(s, it, bulk, now, &ch, msg, sizeof msg);
        if (rc == -2) {
            cs_rollback(s->store);
            *reply = db_error(s);
            status = 500;
            goto unlock;
        }
        if (rc) {
            json_array_append_new(messages, json_sprintf("Item %zu: %s", i, msg));
        } else {
            updated++;
            changed |= ch;
        }
    }
    if (cs_commit(s->store)) {
        cs_rollback(s->store);
        *reply = db_error(s);
        status = 500;
        goto unlock;
    }
    if (!bulk && json_array_size(messages)) {
        *reply = cl_error("ArgumentException",
                          json_string_value(json_array_get(messages, 0)), NULL, 1);
        status = 400;
        goto unlock;
    }
    *reply = json_pack("{s:b,s:O,s:i}", "ActionSucceeded", json_array_size(messages) == 0,
                       "Messages", messages, "Result", updated);
unlock:
    cs_unlock(s->store);
    if (changed)
        webhook_kick(s->wh);
    json_decref(messages);
    json_decref(bound_items);
    json_decref(items);
    return status;
}

unsigned cl_inventory_calculate(clarity_server *s, int64_t product_id, json_t **reply)
{
    cs_lock(s->store);
    json_t *prod = cs_get(s->store, "Product", product_id);
    cs_unlock(s->store);
    if (!prod) {
        *reply = errorf("NotFound", 0, "Product %lld was not found", (long long)product_id);
        return 404;
    }
    double q = 0, alloc = 0, pre = 0, broken = 0;
    size_t i;
    json_t *r, *rows = json_object_get(prod, "ProductInventoryLocationSections");
    json_array_foreach(rows, i, r) {
        q += numv(r, "Quantity", 0);
        alloc += numv(r, "QuantityAllocated", 0);
        pre += numv(r, "QuantityPreSold", 0);
        broken += numv(r, "QuantityBroken", 0);
    }
    double avail = q - alloc - pre - broken;
    *reply = json_pack("{s:I,s:f,s:f,s:f,s:f,s:b,s:b,s:o}", "ProductID", (json_int_t)product_id,
                       "QuantityPresent", q, "QuantityAllocated", alloc, "QuantityPreSold", pre,
                       "QuantityOnHand", avail, "IsOutOfStock", avail <= 0, "IsUnlimitedStock",
                       0, "RelevantLocations", rows ? json_incref(rows) : json_array());
    if (str(prod, "UnitOfMeasure"))
        json_object_set_new(*reply, "ProductUOM", json_string(str(prod, "UnitOfMeasure")));
    json_decref(prod);
    return 200;
}

/* ---------------------------------------------------------------- seed */

static json_t *money_of(int64_t cents)
{
    return json_real((double)cents / 100.0);
}

static json_t *address_of(const seed_customer *c)
{
    json_t *a = json_pack("{s:s,s:s,s:s,s:s}", "Street1", c->address.street, "City",
                          c->address.city, "PostalCode", c->address.postal_code, "CountryCode",
                          c->address.country2);
    if (c->address.region[0])
        json_object_set_new(a, "RegionCode", json_string(c->address.region));
    return a;
}

static json_t *attribute(const char *key, const char *value, const char *uofm)
{
    json_t *a = json_pack("{s:s,s:s}", "Key", key, "Value", value);
    if (uofm)
        json_object_set_new(a, "UofM", json_string(uofm));
    return a;
}

int cl_seed_store(clarity_server *s, char *err, size_t errlen)
{
    const seed_catalog *cat = s->cat;
    int rc = 0;
    char key[96], full[64];
    cs_lock(s->store);
    if (cs_count(s->store, "Account") > 0 || cs_count(s->store, "Product") > 0) {
        cs_unlock(s->store);
        return 0; /* an existing --data store keeps its records */
    }
    if (cs_begin(s->store)) {
        snprintf(err, errlen, "seed: %s", cs_errmsg(s->store));
        cs_unlock(s->store);
        return -1;
    }
    for (size_t i = 0; i < SEED_N_CUSTOMERS && !rc; i++) {
        const seed_customer *c = &cat->customers[i];
        json_int_t id = (json_int_t)i + 1;
        snprintf(key, sizeof key, "%s-BILLING", c->account);
        snprintf(full, sizeof full, "%s %s", c->first_name, c->last_name);
        json_t *contact = json_pack("{s:I,s:s,s:b,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o}", "ID", id,
                                    "CustomKey", key, "Active", 1, "CreatedDate", SEED_DATE,
                                    "TypeKey", "Billing", "FirstName", c->first_name, "LastName",
                                    c->last_name, "FullName", full, "Email1", c->email, "Phone1",
                                    c->phone, "Address", address_of(c));
        json_t *acct = json_pack(
            "{s:I,s:s,s:s,s:b,s:s,s:s,s:s,s:i,s:b,s:b,s:o,s:s,s:[{s:I,s:b,s:s,s:I,s:s,s:I,s:s,"
            "s:O}]}",
            "ID", id, "CustomKey", c->account, "Name", c->name, "Active", 1, "CreatedDate",
            SEED_DATE, "TypeKey", "Customer", "StatusKey", "Normal", "StatusID",
            status_id("Normal"), "IsTaxable", 1, "IsOnHold", 0, "Credit",
            money_of(c->credit_limit_cents), "CreditCurrencyKey", c->currency,
            "AccountContacts", "ID", id, "Active", 1, "CreatedDate", SEED_DATE, "MasterID", id,
            "MasterKey", c->account, "SlaveID", id, "SlaveKey", key, "Slave", contact);
        json_t *user = json_pack("{s:I,s:s,s:b,s:s,s:s,s:s,s:s,s:s,s:i,s:I,s:s,s:I,s:s,s:s,s:s}",
                                 "ID", id, "CustomKey", c->email, "Active", 1, "CreatedDate",
                                 SEED_DATE, "UserName", c->email, "Email", c->email,
                                 "DisplayName", full, "StatusKey", "Normal", "StatusID",
                                 status_id("Normal"), "ContactID", id, "ContactKey", key,
                                 "AccountID", id, "AccountKey", c->account, "AccountName",
                                 c->name, "CurrencyKey", c->currency);
        rc = !acct || !user || cs_put(s->store, "Account", acct) ||
             cs_put(s->store, "Contact", contact) || cs_put(s->store, "User", user);
        json_decref(acct);
        json_decref(contact);
        json_decref(user);
    }
    for (size_t i = 0; i < SEED_N_PRODUCTS && !rc; i++) {
        const seed_product *p = &cat->products[i];
        char seo[96], grams[32];
        size_t n = 0;
        for (const char *q = p->name; *q && n + 1 < sizeof seo; q++)
            seo[n++] = isalnum((unsigned char)*q) ? (char)tolower((unsigned char)*q) : '-';
        seo[n] = '\0';
        snprintf(grams, sizeof grams, "%lld", (long long)p->weight_grams);
        json_t *prod = json_pack(
            "{s:I,s:s,s:s,s:b,s:s,s:s,s:s,s:i,s:s,s:b,s:b,s:o,s:s,s:{s:o,s:o}}", "ID",
            (json_int_t)i + 1, "CustomKey", p->item, "Name", p->name, "Active", 1, "CreatedDate",
            SEED_DATE, "TypeKey", "General", "StatusKey", "Normal", "StatusID",
            status_id("Normal"), "SeoUrl", seo, "IsVisible", 1, "IsTaxable", 1, "PriceBase",
            money_of(p->price_cents), "UnitOfMeasure", p->unit, "SerializableAttributes",
            "Category", attribute("Category", p->category, NULL), "Weight",
            attribute("Weight", grams, "g"));
        json_t *rows = json_array();
        for (int w = 0; w < SEED_N_WAREHOUSES; w++) {
            json_t *row = location_row(s, prod, w, SEED_DATE);
            json_object_set_new(row, "Quantity", json_integer(cat->on_hand[i][w]));
            json_array_append_new(rows, row);
        }
        json_object_set_new(prod, "ProductInventoryLocationSections", rows);
        rc = cs_put(s->store, "Product", prod);
        json_decref(prod);
    }
    for (size_t i = 0; i < SEED_N_COUPONS && !rc; i++) {
        const seed_coupon *cp = &cat->coupons[i];
        char name[64];
        snprintf(name, sizeof name, "%d%% off the order (%s)", cp->percent, cp->code);
        /* the Discount and its code share the coupon code as CustomKey, so an order's
         * applied discount names the coupon in DiscountKey */
        json_t *d = json_pack("{s:I,s:s,s:s,s:b,s:s,s:i,s:i,s:i,s:s,s:b,s:b}", "ID",
                              (json_int_t)i + 1, "CustomKey", cp->code, "Name", name, "Active", 1,
                              "CreatedDate", SEED_DATE, "Value", cp->percent, "ValueType", 0,
                              "DiscountTypeID", 1, "StartDate", SEED_DATE, "CanCombine", 0,
                              "IsAutoApplied", 0);
        json_t *dc = json_pack("{s:I,s:s,s:s,s:b,s:s,s:I,s:s,s:s}", "ID", (json_int_t)i + 1,
                               "CustomKey", cp->code, "Code", cp->code, "Active", 1,
                               "CreatedDate", SEED_DATE, "DiscountID", (json_int_t)i + 1,
                               "DiscountKey", cp->code, "DiscountName", name);
        rc = cs_put(s->store, "Discount", d) || cs_put(s->store, "DiscountCode", dc);
        json_decref(d);
        json_decref(dc);
    }
    if (rc || cs_commit(s->store)) {
        snprintf(err, errlen, "seed: %s", cs_errmsg(s->store));
        cs_rollback(s->store);
        cs_unlock(s->store);
        return -1;
    }
    cs_unlock(s->store);
    return 0;
}

unsigned cl_traffic_submit(void *ctx, const json_t *order, const json_t *payment, int64_t *id,
                           int *paid, char *msg, size_t msglen)
{
    clarity_server *s = ctx;
    json_t *reply = NULL;
    unsigned status = cl_write(s, clarity_entity_by_name("SalesOrder"), order, CL_CREATE,
                               &reply);
    *id = 0;
    *paid = 0;
    if (status == 200) {
        *id = id_of(reply, "Result");
        if (payment && *id) {
            /* the storefront's payment step: the whole balance, right after checkout */
            cs_lock(s->store);
            json_t *doc = cs_get(s->store, "SalesOrder", *id);
            cs_unlock(s->store);
            double due = doc ? numv(doc, "BalanceDue", 0) : 0;
            json_decref(doc);
            if (due > 0) {
                json_t *p = json_deep_copy(payment), *pr = NULL;
                json_object_set_new(p, "Amount", json_real(due));
                json_t *body = json_pack("{s:I,s:o}", "SalesOrderID", (json_int_t)*id, "Payment", p);
                *paid = cl_add_payment(s, body, &pr) == 200;
                json_decref(body);
                json_decref(pr);
            }
        }
    } else {
        json_t *rs = json_object_get(reply, "ResponseStatus");
        snprintf(msg, msglen, "%s: %s", str(rs, "ErrorCode") ? str(rs, "ErrorCode") : "?",
                 str(rs, "Message") ? str(rs, "Message") : "?");
    }
    json_decref(reply);
    return status;
}
