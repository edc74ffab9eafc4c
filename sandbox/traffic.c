/*
 * traffic.c - deterministic storefront order generator of the Clarity emulator (traffic.h).
 */
#include "traffic.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TRAFFIC_MAX_COUNT 100000
#define TRAFFIC_MAX_IDS 1000
#define TRAFFIC_MAX_ERRORS 20

typedef struct kind_count {
    unsigned submitted, created, rejected;
} kind_count;

struct traffic {
    const seed_catalog *cat;
    uint64_t default_seed;
    traffic_submit_fn submit;
    void *ctx;
    pthread_mutex_t mu;     /* guards everything below */
    pthread_t thread;
    int thread_live;        /* a thread exists and must be joined */
    int running, stop;
    /* the current (or last) run */
    uint64_t seed;
    double rate;
    unsigned requested, submitted, created, rejected, paid;
    int payments;           /* pay each created order */
    unsigned char *kinds;   /* requested kinds in submission order */
    kind_count by_kind[TRAFFIC_KIND_COUNT];
    json_t *ids;            /* created order IDs (first TRAFFIC_MAX_IDS) */
    json_t *errors;         /* first rejections */
    EVP_MD_CTX *md;
    char fingerprint[65];
    double started, finished;
};

static const char *const kind_names[TRAFFIC_KIND_COUNT] = {
    "good", "string_quantity", "missing_account", "over_limit", "unknown_sku",
};

const char *traffic_kind_name(traffic_kind k)
{
    return (unsigned)k < TRAFFIC_KIND_COUNT ? kind_names[k] : "?";
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static json_t *money(int64_t cents)
{
    return json_real((double)cents / 100.0);
}

static json_t *contact(const seed_customer *c, const char *street)
{
    json_t *addr = json_pack("{s:s,s:s,s:s,s:s}", "Street1", street, "City", c->address.city,
                             "PostalCode", c->address.postal_code, "CountryCode",
                             c->address.country2);
    if (c->address.region[0])
        json_object_set_new(addr, "RegionCode", json_string(c->address.region));
    return json_pack("{s:s,s:s,s:s,s:s,s:o}", "FirstName", c->first_name, "LastName",
                     c->last_name, "Email1", c->email, "Phone1", c->phone, "Address", addr);
}

json_t *traffic_make_order(const seed_catalog *cat, uint64_t seed, unsigned n, traffic_kind kind)
{
    seed_rng r;
    seed_rng_init(&r, seed * 0x9E3779B97F4A7C15ULL ^ ((uint64_t)n * 0xD1B54A32D192ED03ULL) ^
                          ((uint64_t)kind << 56));
    seed_rng_next(&r);
    const seed_customer *c;
    if (kind == TRAFFIC_OVER_LIMIT) {
        /* customers with index % 8 == 7 have the low limits (seed.h) */
        size_t k = 7 + 8 * seed_rng_index(&r, SEED_N_CUSTOMERS / 8);
        c = &cat->customers[k];
    } else {
        c = &cat->customers[seed_rng_index(&r, SEED_N_CUSTOMERS)];
    }
    json_t *o = json_object();
    if (kind != TRAFFIC_MISSING_ACCOUNT) {
        json_object_set_new(o, "AccountKey", json_string(c->account));
        json_object_set_new(o, "AccountName", json_string(c->name));
        json_object_set_new(o, "UserKey", json_string(c->email));
    }
    json_object_set_new(o, "CurrencyKey", json_string(c->currency));
    json_object_set_new(o, "StoreKey", json_string("WEB"));
    if (seed_rng_index(&r, 3) == 0) {
        char po[40];
        snprintf(po, sizeof po, "PO-%llu-%05u", (unsigned long long)seed, n + 1);
        json_object_set_new(o, "PurchaseOrderNumber", json_string(po));
    }
    const seed_warehouse *wh = &cat->warehouses[strcmp(c->address.country2, "US") == 0
                                                    ? seed_rng_index(&r, 3) : 3];
    json_object_set_new(o, "InventoryLocationKey", json_string(wh->id));
    json_object_set_new(o, "BillingContact", contact(c, c->address.street));
    if (seed_rng_index(&r, 4) == 0) {
        char street[64];
        snprintf(street, sizeof street, "%d Warehouse Row", (int)seed_rng_range(&r, 1, 400));
        json_object_set_new(o, "ShippingContact", contact(c, street));
    } else {
        json_object_set_new(o, "ShippingContact", contact(c, c->address.street));
    }

    unsigned nlines = (unsigned)seed_rng_range(&r, 1, 20);
    if (nlines > 4 && seed_rng_index(&r, 2))
        nlines = (unsigned)seed_rng_range(&r, 1, 4); /* most baskets are small */
    json_t *lines = json_array();
    int64_t subtotal = 0;
    int used[SEED_N_PRODUCTS] = {0};
    for (unsigned i = 0; i < nlines; i++) {
        size_t pi = seed_rng_index(&r, SEED_N_PRODUCTS);
        while (used[pi])
            pi = (pi + 1) % SEED_N_PRODUCTS;
        used[pi] = 1;
        const seed_product *p = &cat->products[pi];
        int64_t qty = seed_rng_index(&r, 4) ? seed_rng_range(&r, 1, 3) : seed_rng_range(&r, 4, 24);
        json_t *line = json_pack("{s:s,s:s,s:s,s:I,s:o,s:o,s:s}", "ProductKey", p->item, "Sku",
                                 p->item, "Name", p->name, "Quantity", (json_int_t)qty,
                                 "UnitCorePrice", money(p->price_cents), "UnitSoldPrice",
                                 money(p->price_cents), "UnitOfMeasure", p->unit);
        subtotal += qty * p->price_cents;
        json_array_append_new(lines, line);
    }
    if (kind == TRAFFIC_OVER_LIMIT) {
        /* top the basket up with the dearest catalog item until it is 1.5x the limit */
        size_t best = 0;
        for (size_t i = 1; i < SEED_N_PRODUCTS; i++)
            if (cat->products[i].price_cents > cat->products[best].price_cents)
                best = i;
        const seed_product *p = &cat->products[best];
        int64_t need = c->credit_limit_cents * 3 / 2 - subtotal;
        int64_t qty = need > 0 ? need / p->price_cents + 1 : 1;
        json_array_append_new(lines, json_pack("{s:s,s:s,s:s,s:I,s:o,s:o,s:s}", "ProductKey",
                                               p->item, "Sku", p->item, "Name", p->name,
                                               "Quantity", (json_int_t)qty, "UnitCorePrice",
                                               money(p->price_cents), "UnitSoldPrice",
                                               money(p->price_cents), "UnitOfMeasure", p->unit));
    }
    if (kind == TRAFFIC_UNKNOWN_SKU) {
        char sku[24];
        snprintf(sku, sizeof sku, "X%04u-%03u", n % 10000, (unsigned)seed_rng_range(&r, 1, 999));
        json_array_append_new(lines, json_pack("{s:s,s:s,s:i,s:f,s:s}", "Sku", sku, "Name",
                                               "Marketplace item", "Quantity", 1,
                                               "UnitSoldPrice", 9.99, "UnitOfMeasure", "ea"));
    }
    if (kind == TRAFFIC_STRING_QUANTITY) {
        static const char *const words[] = {"two", "3 pcs", "a dozen", "several"};
        json_t *line = json_array_get(lines, seed_rng_index(&r, json_array_size(lines)));
        json_object_set_new(line, "Quantity", json_string(words[seed_rng_index(&r, 4)]));
    }
    json_object_set_new(o, "SalesItems", lines);
    if (seed_rng_index(&r, 10) < 3) {
        const seed_coupon *cp = &cat->coupons[seed_rng_index(&r, SEED_N_COUPONS)];
        json_object_set_new(o, "Discounts", json_pack("[{s:s}]", "Code", cp->code));
    }
    int64_t ship = subtotal >= 10000 ? 0 : 995;
    json_object_set_new(o, "Totals", json_pack("{s:o,s:o}", "Shipping", money(ship), "Tax",
                                               money(subtotal * 7 / 100)));
    return o;
}

json_t *traffic_make_payment(const json_t *order, uint64_t seed, unsigned n)
{
    seed_rng r;
    seed_rng_init(&r, seed * 0xA24BAED4963EE407ULL ^ ((uint64_t)n * 0x9FB21C651E98DF25ULL));
    seed_rng_next(&r);
    int card = seed_rng_index(&r, 5) != 0;
    char tx[48];
    snprintf(tx, sizeof tx, "TX-%llu-%05u-%06u", (unsigned long long)seed, n + 1,
             (unsigned)seed_rng_range(&r, 1, 999999));
    json_t *p = json_pack("{s:s,s:s,s:b}", "PaymentMethodKey", card ? "CreditCard" : "PayPal",
                          "TransactionNumber", tx, "Authorized", 1);
    const char *acct = json_string_value(json_object_get(order, "AccountKey"));
    if (acct)
        json_object_set_new(p, "ExternalCustomerID", json_string(acct));
    const char *cur = json_string_value(json_object_get(order, "CurrencyKey"));
    if (cur)
        json_object_set_new(p, "CurrencyKey", json_string(cur));
    return p;
}

static void reset_run(traffic *t)
{
    free(t->kinds);
    t->kinds = NULL;
    json_decref(t->ids);
    json_decref(t->errors);
    t->ids = json_array();
    t->errors = json_array();
    t->requested = t->submitted = t->created = t->rejected = t->paid = 0;
    memset(t->by_kind, 0, sizeof t->by_kind);
    t->fingerprint[0] = '\0';
    t->started = now_s();
    t->finished = 0;
}

static void run(traffic *t)
{
    double start = now_s();
    for (unsigned i = 0;; i++) {
        pthread_mutex_lock(&t->mu);
        int stop = t->stop || i >= t->requested;
        traffic_kind kind = stop ? TRAFFIC_GOOD : (traffic_kind)t->kinds[i];
        uint64_t seed = t->seed;
        double rate = t->rate;
        int payments = t->payments;
        pthread_mutex_unlock(&t->mu);
        if (stop)
            break;
        if (rate > 0) {
            double due = start + i / rate, wait = due - now_s();
            if (wait > 0) {
                struct timespec ts = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};
                nanosleep(&ts, NULL);
            }
        }
        json_t *order = traffic_make_order(t->cat, seed, i, kind);
        char *text = json_dumps(order, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
        int64_t id = 0;
        int paid = 0;
        char msg[256] = "";
        json_t *payment = payments ? traffic_make_payment(order, seed, i) : NULL;
        unsigned status = t->submit(t->ctx, order, payment, &id, &paid, msg, sizeof msg);
        json_decref(payment);
        json_decref(order);
        pthread_mutex_lock(&t->mu);
        if (text)
            EVP_DigestUpdate(t->md, text, strlen(text));
        t->submitted++;
        t->by_kind[kind].submitted++;
        if (status == 200) {
            t->created++;
            t->paid += paid != 0;
            t->by_kind[kind].created++;
            if (json_array_size(t->ids) < TRAFFIC_MAX_IDS)
                json_array_append_new(t->ids, json_integer(id));
        } else {
            t->rejected++;
            t->by_kind[kind].rejected++;
            if (json_array_size(t->errors) < TRAFFIC_MAX_ERRORS)
                json_array_append_new(t->errors,
                                      json_pack("{s:i,s:s,s:i,s:s}", "n", (int)i, "kind",
                                                kind_names[kind], "status", (int)status,
                                                "message", msg));
        }
        pthread_mutex_unlock(&t->mu);
        free(text);
    }
    pthread_mutex_lock(&t->mu);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_DigestFinal_ex(t->md, md, &mdlen);
    for (unsigned i = 0; i < mdlen && i < 32; i++)
        snprintf(t->fingerprint + 2 * i, 3, "%02x", md[i]);
    t->finished = now_s();
    t->running = 0;
    pthread_mutex_unlock(&t->mu);
}

static void *run_thread(void *arg)
{
    run(arg);
    return NULL;
}

int traffic_new(traffic **out, const seed_catalog *cat, uint64_t default_seed,
                traffic_submit_fn submit, void *ctx)
{
    traffic *t = calloc(1, sizeof *t);
    *out = NULL;
    if (!t)
        return -1;
    t->cat = cat;
    t->default_seed = default_seed;
    t->submit = submit;
    t->ctx = ctx;
    t->md = EVP_MD_CTX_new();
    if (!t->md) {
        free(t);
        return -1;
    }
    pthread_mutex_init(&t->mu, NULL);
    t->ids = json_array();
    t->errors = json_array();
    *out = t;
    return 0;
}

static void join_thread(traffic *t)
{
    pthread_mutex_lock(&t->mu);
    int live = t->thread_live;
    t->thread_live = 0;
    pthread_mutex_unlock(&t->mu);
    if (live)
        pthread_join(t->thread, NULL);
}

void traffic_stop(traffic *t)
{
    pthread_mutex_lock(&t->mu);
    t->stop = 1;
    pthread_mutex_unlock(&t->mu);
}

void traffic_free(traffic *t)
{
    if (!t)
        return;
    traffic_stop(t);
    join_thread(t);
    free(t->kinds);
    json_decref(t->ids);
    json_decref(t->errors);
    EVP_MD_CTX_free(t->md);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static int get_count(const json_t *spec, const char *name, unsigned *out, char *err,
                     size_t errlen)
{
    json_t *v = json_object_get(spec, name);
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > TRAFFIC_MAX_COUNT) {
        snprintf(err, errlen, "%s must be an integer in 0..%d", name, TRAFFIC_MAX_COUNT);
        return -1;
    }
    *out = (unsigned)json_integer_value(v);
    return 0;
}

int traffic_start(traffic *t, const json_t *spec, char *err, size_t errlen)
{
    unsigned counts[TRAFFIC_KIND_COUNT] = {0};
    if (!json_is_object(spec)) {
        snprintf(err, errlen, "the body must be a JSON object");
        return -1;
    }
    if (get_count(spec, "count", &counts[TRAFFIC_GOOD], err, errlen))
        return -1;
    json_t *bad = json_object_get(spec, "bad");
    if (bad && !json_is_object(bad) && !json_is_null(bad)) {
        snprintf(err, errlen, "bad must be an object");
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(bad, key, v) {
        int k;
        for (k = 1; k < TRAFFIC_KIND_COUNT; k++)
            if (!strcmp(key, kind_names[k]))
                break;
        if (k == TRAFFIC_KIND_COUNT) {
            snprintf(err, errlen, "unknown bad order kind '%s' (string_quantity, "
                     "missing_account, over_limit, unknown_sku)", key);
            return -1;
        }
        if (get_count(bad, key, &counts[k], err, errlen))
            return -1;
    }
    unsigned total = 0;
    for (int k = 0; k < TRAFFIC_KIND_COUNT; k++)
        total += counts[k];
    if (total == 0 || total > TRAFFIC_MAX_COUNT) {
        snprintf(err, errlen, "ask for 1..%d orders in all", TRAFFIC_MAX_COUNT);
        return -1;
    }
    json_t *rate = json_object_get(spec, "rate_per_s");
    if (rate && !json_is_number(rate) && !json_is_null(rate)) {
        snprintf(err, errlen, "rate_per_s must be a number");
        return -1;
    }
    double r = rate ? json_number_value(rate) : 0;
    if (r < 0 || r > 1e6) {
        snprintf(err, errlen, "rate_per_s must be in 0..1000000");
        return -1;
    }
    json_t *sj = json_object_get(spec, "seed");
    if (sj && !json_is_integer(sj) && !json_is_null(sj)) {
        snprintf(err, errlen, "seed must be an integer");
        return -1;
    }
    uint64_t seed = json_is_integer(sj) ? (uint64_t)json_integer_value(sj) : t->default_seed;
    int wait = json_is_true(json_object_get(spec, "wait"));
    json_t *pj = json_object_get(spec, "payments");
    if (pj && !json_is_boolean(pj) && !json_is_null(pj)) {
        snprintf(err, errlen, "payments must be true or false");
        return -1;
    }
    int payments = !json_is_false(pj);

    pthread_mutex_lock(&t->mu);
    if (t->running) {
        pthread_mutex_unlock(&t->mu);
        return 1;
    }
    pthread_mutex_unlock(&t->mu);
    join_thread(t); /* the previous run's thread has finished */
    pthread_mutex_lock(&t->mu);
    reset_run(t);
    t->kinds = malloc(total);
    if (!t->kinds) {
        pthread_mutex_unlock(&t->mu);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    unsigned n = 0;
    for (int k = 0; k < TRAFFIC_KIND_COUNT; k++)
        for (unsigned i = 0; i < counts[k]; i++)
            t->kinds[n++] = (unsigned char)k;
    seed_rng sr;
    seed_rng_init(&sr, seed ^ 0x5EEDF00DULL);
    for (unsigned i = total; i > 1; i--) { /* Fisher-Yates */
        size_t j = seed_rng_index(&sr, i);
        unsigned char tmp = t->kinds[i - 1];
        t->kinds[i - 1] = t->kinds[j];
        t->kinds[j] = tmp;
    }
    t->requested = total;
    t->seed = seed;
    t->rate = r;
    t->payments = payments;
    t->stop = 0;
    t->running = 1;
    EVP_DigestInit_ex(t->md, EVP_sha256(), NULL);
    pthread_mutex_unlock(&t->mu);
    if (wait) {
        run(t);
        return 0;
    }
    if (pthread_create(&t->thread, NULL, run_thread, t) != 0) {
        pthread_mutex_lock(&t->mu);
        t->running = 0;
        pthread_mutex_unlock(&t->mu);
        snprintf(err, errlen, "cannot start the traffic thread");
        return -1;
    }
    pthread_mutex_lock(&t->mu);
    t->thread_live = 1;
    pthread_mutex_unlock(&t->mu);
    return 0;
}

json_t *traffic_status(traffic *t)
{
    pthread_mutex_lock(&t->mu);
    json_t *by = json_object();
    for (int k = 0; k < TRAFFIC_KIND_COUNT; k++)
        json_object_set_new(by, kind_names[k],
                            json_pack("{s:i,s:i,s:i}", "submitted", (int)t->by_kind[k].submitted,
                                      "created", (int)t->by_kind[k].created, "rejected",
                                      (int)t->by_kind[k].rejected));
    double end = t->finished ? t->finished : now_s();
    json_t *o = json_pack("{s:b,s:I,s:i,s:i,s:i,s:i,s:i,s:b,s:f,s:o,s:O,s:O}", "running",
                          t->running, "seed", (json_int_t)t->seed, "requested", (int)t->requested,
                          "submitted", (int)t->submitted, "created", (int)t->created,
                          "rejected", (int)t->rejected, "paid", (int)t->paid, "payments",
                          t->payments, "rate_per_s", t->rate, "by_kind", by,
                          "order_ids", t->ids, "errors", t->errors);
    if (t->started)
        json_object_set_new(o, "elapsed_s", json_real(end - t->started));
    if (t->fingerprint[0])
        json_object_set_new(o, "fingerprint", json_string(t->fingerprint));
    pthread_mutex_unlock(&t->mu);
    return o;
}
