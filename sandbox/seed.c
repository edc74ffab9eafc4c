/*
 * seed.c - builds the deterministic sample catalog of seed.h (customers, products, warehouses,
 * on-hand quantities, coupons) from fixed word lists and a splitmix64 generator.  Integer
 * arithmetic only, so a seed gives the same bytes everywhere.
 */
#include "seed.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

void seed_rng_init(seed_rng *r, uint64_t seed)
{
    r->state = seed;
}

uint64_t seed_rng_next(seed_rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

int64_t seed_rng_range(seed_rng *r, int64_t lo, int64_t hi)
{
    if (hi <= lo)
        return lo;
    uint64_t span = (uint64_t)(hi - lo) + 1;
    return lo + (int64_t)(seed_rng_next(r) % span);
}

size_t seed_rng_index(seed_rng *r, size_t n)
{
    return n ? (size_t)(seed_rng_next(r) % n) : 0;
}

struct country {
    const char *c2, *c3, *currency, *group, *lang, *phone_prefix;
    const char *cities[4];
    const char *regions[4];
    const char *postal_fmt; /* printf with one int */
    int postal_max;
};

static const struct country countries[] = {
    {"US", "USA", "USD", "10", "en-us", "+1 206 555 ",
     {"Seattle", "Chicago", "Austin", "Boston"}, {"WA", "IL", "TX", "MA"}, "%05d", 99950},
    {"CA", "CAN", "CAD", "20", "en-ca", "+1 416 555 ",
     {"Toronto", "Vancouver", "Montreal", "Calgary"}, {"ON", "BC", "QC", "AB"}, "M%dA 1B1", 9},
    {"GB", "GBR", "GBP", "20", "en-gb", "+44 20 7946 ",
     {"London", "Manchester", "Leeds", "Bristol"}, {"", "", "", ""}, "EC%dA 1BB", 9},
    {"DE", "DEU", "EUR", "20", "de", "+49 30 5555 ",
     {"Berlin", "Munich", "Hamburg", "Cologne"}, {"BE", "BY", "HH", "NW"}, "%05d", 99990},
    {"FR", "FRA", "EUR", "20", "fr", "+33 1 5555 ",
     {"Paris", "Lyon", "Marseille", "Lille"}, {"", "", "", ""}, "%05d", 95999},
    {"NL", "NLD", "EUR", "20", "nl", "+31 20 555 ",
     {"Amsterdam", "Rotterdam", "Utrecht", "Eindhoven"}, {"", "", "", ""}, "%04d AB", 9999},
    {"JP", "JPN", "JPY", "20", "ja", "+81 3 5555 ",
     {"Tokyo", "Osaka", "Nagoya", "Sapporo"}, {"13", "27", "23", "01"}, "%03d-0001", 999},
    {"AU", "AUS", "AUD", "20", "en-au", "+61 2 5550 ",
     {"Sydney", "Melbourne", "Brisbane", "Perth"}, {"NSW", "VIC", "QLD", "WA"}, "%04d", 9999},
};
#define N_COUNTRIES (sizeof countries / sizeof countries[0])

static const char *const first_names[] = {
    "Ada", "Bruno", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
    "Keiko", "Liam", "Maya", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sven", "Tara",
};
static const char *const last_names[] = {
    "Anders", "Becker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ito",
    "Jensen", "Klein", "Lopez", "Martin", "Novak", "Okafor", "Petit", "Rossi", "Schmidt",
    "Tanaka", "Weber",
};
static const char *const org_words[] = {
    "Northwind", "Contoso", "Fabrikam", "Litware", "Tailspin", "Adatum", "Woodgrove",
    "Proseware", "Wingtip", "Lucerne", "Margie's", "Alpine",
};
static const char *const org_suffix[] = {
    "Retail", "Outfitters", "Supply", "Trading", "Stores", "Electronics", "Market", "Goods",
};
static const char *const streets[] = {
    "Main Street", "Market Street", "High Street", "Park Avenue", "Station Road",
    "Harbour Way", "Mill Lane", "Church Road", "Lake Drive", "King Street",
};

struct category {
    char letter;
    const char *name, *unit;
    const char *nouns[5];
    int64_t min_cents, max_cents, min_g, max_g;
};

static const struct category categories[] = {
    {'A', "Audio", "ea", {"Speaker", "Headphones", "Amplifier", "Soundbar", "Subwoofer"},
     2999, 89999, 300, 9000},
    {'C', "Cables", "pcs", {"HDMI Cable", "USB-C Cable", "Optical Cable", "Speaker Wire",
     "Power Cord"}, 499, 4999, 50, 600},
    {'D', "Displays", "ea", {"Monitor", "Projector", "TV", "Touch Panel", "Signage Screen"},
     9999, 249999, 2000, 25000},
    {'K', "Kitchen", "box", {"Kettle", "Blender", "Toaster", "Coffee Maker", "Mixer"},
     1999, 39999, 800, 6000},
    {'P', "Paper", "box", {"Copy Paper", "Labels", "Envelopes", "Notebooks", "Sticky Notes"},
     299, 5999, 200, 12000},
    {'S', "Spices", "kg", {"Pepper", "Paprika", "Cumin", "Saffron", "Cinnamon"},
     399, 19999, 1000, 1000},
};
#define N_CATEGORIES (sizeof categories / sizeof categories[0])

static const char *const adjectives[] = {
    "Compact", "Pro", "Deluxe", "Classic", "Studio", "Travel", "Premium", "Basic",
};

static const seed_warehouse warehouses[SEED_N_WAREHOUSES] = {
    {"11", "1", "Main warehouse Seattle"},
    {"12", "1", "Overflow warehouse Seattle"},
    {"21", "2", "East coast warehouse"},
    {"22", "2", "European distribution"},
};

static const seed_coupon coupons[SEED_N_COUPONS] = {
    {"SAVE5", 5}, {"SAVE10", 10}, {"SAVE15", 15}, {"WELCOME20", 20}, {"VIP25", 25},
    {"CLEAR30", 30},
};

static void lower_ascii(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* email local part / domain: keep [a-z0-9], drop the rest */
static void slug(char *dst, size_t len, const char *src)
{
    size_t n = 0;
    for (; *src && n + 1 < len; src++) {
        unsigned char ch = (unsigned char)tolower((unsigned char)*src);
        if (isalnum(ch))
            dst[n++] = (char)ch;
    }
    dst[n] = '\0';
}

int seed_catalog_build(seed_catalog *out, uint64_t seed)
{
    if (!seed)
        seed = SEED_DEFAULT;
    memset(out, 0, sizeof *out);
    out->seed = seed;
    seed_rng r;
    seed_rng_init(&r, seed * 0x2545F4914F6CDD1DULL + 0x1234567ULL);

    int per_country[N_COUNTRIES] = {0};
    for (size_t i = 0; i < SEED_N_CUSTOMERS; i++) {
        seed_customer *c = &out->customers[i];
        /* the first half are US customers (usmf is a US company), the rest rotate */
        size_t ci = i < SEED_N_CUSTOMERS / 2 ? 0 : 1 + (i % (N_COUNTRIES - 1));
        const struct country *k = &countries[ci];
        per_country[ci]++;
        snprintf(c->account, sizeof c->account, "%s-%03d", k->c2, per_country[ci]);
        const char *org = org_words[seed_rng_index(&r, sizeof org_words / sizeof *org_words)];
        const char *suf = org_suffix[seed_rng_index(&r, sizeof org_suffix / sizeof *org_suffix)];
        size_t cityi = seed_rng_index(&r, 4);
        snprintf(c->name, sizeof c->name, "%s %s %s", org, k->cities[cityi], suf);
        snprintf(c->first_name, sizeof c->first_name, "%s",
                 first_names[seed_rng_index(&r, sizeof first_names / sizeof *first_names)]);
        snprintf(c->last_name, sizeof c->last_name, "%s",
                 last_names[seed_rng_index(&r, sizeof last_names / sizeof *last_names)]);
        char fn[16], ln[16], dom[16];
        slug(fn, sizeof fn, c->first_name);
        slug(ln, sizeof ln, c->last_name);
        slug(dom, sizeof dom, org);
        snprintf(c->email, sizeof c->email, "%s.%s.%s@%s.example.com", fn, ln, c->account, dom);
        lower_ascii(c->email);
        snprintf(c->phone, sizeof c->phone, "%s%04d", k->phone_prefix,
                 (int)seed_rng_range(&r, 100, 9999));
        seed_address *a = &c->address;
        snprintf(a->street, sizeof a->street, "%d %s", (int)seed_rng_range(&r, 1, 980),
                 streets[seed_rng_index(&r, sizeof streets / sizeof *streets)]);
        snprintf(a->city, sizeof a->city, "%s", k->cities[cityi]);
        snprintf(a->region, sizeof a->region, "%s", k->regions[cityi]);
        snprintf(a->postal_code, sizeof a->postal_code, k->postal_fmt,
                 (int)seed_rng_range(&r, 1, k->postal_max));
        snprintf(a->country2, sizeof a->country2, "%s", k->c2);
        snprintf(a->country3, sizeof a->country3, "%s", k->c3);
        snprintf(c->currency, sizeof c->currency, "%s", k->currency);
        snprintf(c->customer_group, sizeof c->customer_group, "%s", k->group);
        snprintf(c->language, sizeof c->language, "%s", k->lang);
        c->low_limit = (i % 8) == 7;
        c->credit_limit_cents = c->low_limit ? seed_rng_range(&r, 250, 750) * 100
                                             : seed_rng_range(&r, 200, 1500) * 10000;
    }

    int per_cat[N_CATEGORIES] = {0};
    for (size_t i = 0; i < SEED_N_PRODUCTS; i++) {
        seed_product *p = &out->products[i];
        size_t ki = i % N_CATEGORIES;
        const struct category *k = &categories[ki];
        per_cat[ki]++;
        snprintf(p->item, sizeof p->item, "%c%04d", k->letter, per_cat[ki]);
        snprintf(p->name, sizeof p->name, "%s %s %d",
                 adjectives[seed_rng_index(&r, sizeof adjectives / sizeof *adjectives)],
                 k->nouns[seed_rng_index(&r, 5)], (int)seed_rng_range(&r, 100, 990));
        snprintf(p->category, sizeof p->category, "%s", k->name);
        snprintf(p->unit, sizeof p->unit, "%s", k->unit);
        /* prices end in .99, .49 or a random cent value */
        int64_t dollars = seed_rng_range(&r, k->min_cents / 100, k->max_cents / 100);
        int64_t cents_tab[] = {99, 49, 95, 0};
        int64_t cents = seed_rng_index(&r, 5) == 4 ? seed_rng_range(&r, 1, 98)
                                                   : cents_tab[seed_rng_index(&r, 4)];
        p->price_cents = dollars * 100 + cents;
        p->weight_grams = seed_rng_range(&r, k->min_g, k->max_g);
        for (size_t w = 0; w < SEED_N_WAREHOUSES; w++)
            out->on_hand[i][w] = (int)seed_rng_range(&r, 0, 500);
    }
    memcpy(out->warehouses, warehouses, sizeof warehouses);
    memcpy(out->coupons, coupons, sizeof coupons);
    return 0;
}

const seed_customer *seed_find_customer(const seed_catalog *c, const char *account)
{
    if (!account)
        return NULL;
    for (size_t i = 0; i < SEED_N_CUSTOMERS; i++)
        if (strcmp(c->customers[i].account, account) == 0)
            return &c->customers[i];
    return NULL;
}

int seed_product_index(const seed_catalog *c, const char *item)
{
    if (!item)
        return -1;
    for (size_t i = 0; i < SEED_N_PRODUCTS; i++)
        if (strcmp(c->products[i].item, item) == 0)
            return (int)i;
    return -1;
}

const seed_product *seed_find_product(const seed_catalog *c, const char *item)
{
    int i = seed_product_index(c, item);
    return i < 0 ? NULL : &c->products[i];
}

const seed_coupon *seed_find_coupon(const seed_catalog *c, const char *code)
{
    if (!code)
        return NULL;
    for (size_t i = 0; i < SEED_N_COUPONS; i++)
        if (strcmp(c->coupons[i].code, code) == 0)
            return &c->coupons[i];
    return NULL;
}

const char *seed_format_cents(char *buf, size_t len, int64_t cents)
{
    const char *sign = cents < 0 ? "-" : "";
    uint64_t v = cents < 0 ? (uint64_t)(-(cents + 1)) + 1 : (uint64_t)cents;
    snprintf(buf, len, "%s%llu.%02llu", sign, (unsigned long long)(v / 100),
             (unsigned long long)(v % 100));
    return buf;
}
