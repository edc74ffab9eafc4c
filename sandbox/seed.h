/*
 * seed.h - the deterministic sample catalog shared by both sandbox emulators.
 *
 * The D365 F&O emulator and the Clarity eCommerce emulator build the SAME catalog from the same
 * seed, so an order the storefront takes (Clarity) names customers and items that exist in the
 * ERP (D365), and the sync flows have real data to move in both directions.
 *
 * What is fixed for every seed (tests and examples may rely on it):
 *   - counts: SEED_N_CUSTOMERS, SEED_N_PRODUCTS, SEED_N_WAREHOUSES, SEED_N_COUPONS;
 *   - customer account numbers: "<CC>-<NNN>" where CC is the customer's country (US, CA, GB,
 *     DE, FR, NL, JP, AU) and NNN counts per country from 001 ("US-001" always exists);
 *   - item numbers (= Clarity SKUs): "<L><NNNN>" with L the category letter ("A0001" always
 *     exists), units "ea", "pcs", "box", "kg";
 *   - warehouses "11", "12", "21", "22" in sites "1" and "2" (D365 usmf style);
 *   - coupon codes "SAVE5", "SAVE10", ... with their percents (seed_coupons[] below);
 *   - customers with index % 8 == 7 have a LOW credit limit (250.00 .. 750.00) so an order over
 *     the limit is easy to produce; every other customer has 20,000.00 .. 150,000.00.
 * What varies with the seed: names, emails, streets, cities, prices, credit limits, on-hand
 * quantities, product names.  Same seed -> byte-identical catalog on every platform (no rand(),
 * no floating point in the generator: money is integer cents).
 *
 * Emails are normalised (lower case, ASCII).  Currency follows the country (USD, CAD, GBP,
 * EUR, JPY, AUD).  Companies: every customer and item exists in D365 company "usmf".
 *
 * Status convention: seed_catalog_build returns 0 or -1 (out of memory); nothing prints.
 */
#ifndef SANDBOX_SEED_H
#define SANDBOX_SEED_H

#include <stddef.h>
#include <stdint.h>

#define SEED_N_CUSTOMERS 48
#define SEED_N_PRODUCTS 120
#define SEED_N_WAREHOUSES 4
#define SEED_N_COUPONS 6
#define SEED_DEFAULT 1UL
#define SEED_COMPANY "usmf"

/* splitmix64: tiny, well-distributed, identical everywhere. */
typedef struct seed_rng {
    uint64_t state;
} seed_rng;

void seed_rng_init(seed_rng *r, uint64_t seed);
uint64_t seed_rng_next(seed_rng *r);
/* uniform in [lo, hi] (inclusive); hi < lo returns lo */
int64_t seed_rng_range(seed_rng *r, int64_t lo, int64_t hi);
/* index in [0, n) ; n == 0 returns 0 */
size_t seed_rng_index(seed_rng *r, size_t n);

typedef struct seed_address {
    char street[64];
    char city[40];
    char postal_code[16];
    char region[8];        /* state / province / county code, "" when none */
    char country2[3];      /* ISO 3166 alpha-2: Clarity CountryCode */
    char country3[4];      /* ISO 3166 alpha-3: D365 CountryRegionId */
} seed_address;

typedef struct seed_customer {
    char account[16];      /* D365 CustomerAccount = Clarity Account.CustomKey, "US-001" */
    char name[64];         /* organisation name */
    char first_name[24];   /* primary contact */
    char last_name[24];
    char email[96];        /* normalised: lower case */
    char phone[24];
    seed_address address;
    char currency[4];      /* ISO 4217 */
    int64_t credit_limit_cents;
    char customer_group[8];/* D365 CustomerGroupId: "10" domestic, "20" international */
    char language[8];      /* "en-us", "de", ... */
    int low_limit;         /* 1 when this is one of the low-credit-limit customers */
} seed_customer;

typedef struct seed_product {
    char item[16];         /* D365 ItemNumber = Clarity Product.CustomKey and Sku, "A0001" */
    char name[64];
    char category[24];     /* "Audio", "Cables", ... */
    char unit[8];          /* "ea", "pcs", "box", "kg" */
    int64_t price_cents;   /* list price in USD cents */
    int64_t weight_grams;
} seed_product;

typedef struct seed_warehouse {
    char id[8];            /* InventoryWarehouseId = Clarity InventoryLocationKey: "11" */
    char site[8];          /* InventorySiteId: "1" */
    char name[40];
} seed_warehouse;

typedef struct seed_coupon {
    char code[16];         /* "SAVE10" */
    int percent;           /* 10 */
} seed_coupon;

typedef struct seed_catalog {
    uint64_t seed;
    seed_customer customers[SEED_N_CUSTOMERS];
    seed_product products[SEED_N_PRODUCTS];
    seed_warehouse warehouses[SEED_N_WAREHOUSES];
    /* on_hand[p][w]: physical on-hand quantity of product p in warehouse w (0 .. 500) */
    int on_hand[SEED_N_PRODUCTS][SEED_N_WAREHOUSES];
    seed_coupon coupons[SEED_N_COUPONS];
} seed_catalog;

/* Fill *out for seed (0 is treated as SEED_DEFAULT). *out is ~60 KB: allocate it. */
int seed_catalog_build(seed_catalog *out, uint64_t seed);

/* Lookups (linear; the catalog is small).  NULL / -1 when absent. */
const seed_customer *seed_find_customer(const seed_catalog *c, const char *account);
const seed_product *seed_find_product(const seed_catalog *c, const char *item);
int seed_product_index(const seed_catalog *c, const char *item);
const seed_coupon *seed_find_coupon(const seed_catalog *c, const char *code);

/* "1234.50" style decimal text of an amount in cents (buf >= 24 bytes). */
const char *seed_format_cents(char *buf, size_t len, int64_t cents);

#endif
