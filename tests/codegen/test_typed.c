/* test_typed.c - a C program over the typed API that mapc generates for examples/
 * order_to_cash.map (regenerated into $(BUILD)/tests/codegen/gen by tests/codegen/build.mk
 * whenever mapc or the example changes, compiled with -Werror -pedantic): decode into the
 * typed structs with presence flags, map, validate, encode; decimals keep their exact text
 * through decode, map and encode, and sums of decimals are exact; errors carry JSON paths. */
#include <stdlib.h>
#include <string.h>

#include "order_to_cash.h"
#include "testhelp.h"

static const char order[] =
    "{\"ID\": 1001, \"AccountKey\": \"C-001\", \"RequestedShipDate\": \"2026-07-30T22:00:00-05:00\","
    " \"ShippingContact\": {\"FirstName\": \"Ann\", \"LastName\": \"Lee\", \"Address\":"
    " {\"CountryCode\": \"CA\", \"RegionCode\": \"ON\", \"PostalCode\": \"k1a0b1\", \"City\": \"Ottawa\"}},"
    " \"Totals\": {\"Total\": 389.45}, \"Discounts\": [{\"DiscountKey\": \"VIP\"}],"
    " \"SalesItems\": ["
    "  {\"MasterID\": 1001, \"Sku\": \"A\", \"Quantity\": 0.1, \"UnitSoldPrice\": 389.45},"
    "  {\"MasterID\": 1001, \"Sku\": \"A\", \"Quantity\": 0.2, \"UnitSoldPrice\": 389.45},"
    "  {\"MasterID\": 1001, \"Sku\": \"B\", \"Quantity\": 12345678901234567890.123456, \"UnitSoldPrice\": 0.1}]}";

static const char *dec_text(const syncrt_decimal *d)
{
    static char buf[4][SYNCRT_DECIMAL_TEXT];
    static int i;
    char *b = buf[i++ % 4];
    syncrt_decimal_format(d, b, SYNCRT_DECIMAL_TEXT);
    return b;
}

static void test_decode(void)
{
    syncrt_mctx c;
    syncrt_mctx_init(&c);
    struct clarity_SalesOrder *o = NULL;
    CHECK_INT(OrderHeader_decode(&c, order, strlen(order), &o), SYNCRT_OK, "decode an order");
    CHECK(o && o->has_ID == SYNCRT_PRESENT && o->ID == 1001, "ID is an int64_t with its presence byte");
    CHECK(o && o->has_PurchaseOrderNumber == SYNCRT_ABSENT, "an absent field stays absent");
    CHECK(o && o->AccountKey.n == 5 && !memcmp(o->AccountKey.p, "C-001", 5), "strings point into the input");
    CHECK(o && o->Totals && !strcmp(dec_text(&o->Totals->Total), "389.45"), "nested object, exact decimal");
    CHECK(o && o->SalesItems.n == 3, "list of 3 sales items");
    const struct clarity_SalesItem *items = o ? o->SalesItems.items : NULL;
    CHECK(items && !strcmp(dec_text(&items[2].Quantity), "12345678901234567890.123456"),
          "a 26-digit quantity keeps its text");
    CHECK(items && !strcmp(dec_text(&items[0].Quantity), "0.1"), "0.1 is exactly 0.1");
    /* 2026-07-30T22:00-05:00 is 2026-07-31T03:00Z */
    char t[40];
    syncrt_format_datetime(o ? o->RequestedShipDate : 0, t);
    CHECK_STR(t, "2026-07-31T03:00:00Z", "datetimes are normalised to UTC");

    struct d365_SalesOrderHeaderV2 *h = NULL;
    CHECK_INT(OrderHeader_map(&c, o, &h), SYNCRT_OK, "map and validate the header");
    CHECK(h && h->has_SalesOrderNumber && h->SalesOrderNumber.n == 8 && !memcmp(h->SalesOrderNumber.p, "WEB-1001", 8),
          "SalesOrderNumber = \"WEB-\" ++ text(o.ID)");
    CHECK(h && !strcmp(dec_text(&h->TotalDiscountPercentage), "15.5"), "coupon VIP from the CSV table: 15.5");
    CHECK(h && h->DeliveryAddressZipCode.n == 7 && !memcmp(h->DeliveryAddressZipCode.p, "K1A 0B1", 7), "Canadian postal code");
    syncrt_mbuf b;
    syncrt_mbuf_init(&b);
    CHECK_INT(OrderHeader_encode(&b, h), SYNCRT_OK, "encode the header");
    CHECK(b.p && strstr(b.p, "\"RequestedShippingDate\":\"2026-07-31T12:00:00Z\""), "F&O date as T12:00:00Z");
    CHECK(b.p && strstr(b.p, "\"DeliveryAddressCountryRegionId\":\"CAN\""), "iso3 of CA");
    syncrt_mbuf_free(&b);
    syncrt_mctx_free(&c);
}

static void test_flow_decimals(void)
{
    syncrt_mctx c;
    syncrt_mctx_init(&c);
    syncrt_mbuf b;
    syncrt_mbuf_init(&b);
    CHECK_INT(OrderToCash_run(&c, order, strlen(order), &b), SYNCRT_OK, "flow OrderToCash runs");
    /* merge(o.SalesItems, Sku, Quantity, UnitSoldPrice): A 0.1 + 0.2 = 0.3 exactly */
    CHECK(b.p && strstr(b.p, "\"OrderedSalesQuantity\":0.3,"), "0.1 + 0.2 is 0.3 (no binary floating point)");
    CHECK(b.p && strstr(b.p, "\"SalesPrice\":389.45"), "389.45 survives decode, map and encode");
    CHECK(b.p && strstr(b.p, "\"OrderedSalesQuantity\":12345678901234567890.123456"),
          "12345678901234567890.123456 survives decode, map and encode");
    CHECK(b.p && strstr(b.p, "\"SalesPrice\":0.1"), "0.1 survives");
    if (b.p)
        printf("# %s\n", b.p);
    syncrt_mbuf_free(&b);
    syncrt_mctx_free(&c);
}

static void test_errors(void)
{
    static const char bad[] =
        "{\"ID\": \"x\", \"Totals\": {\"Total\": \"12\"}, \"SalesItems\": [{}, {}, {}, {\"Quantity\": \"abc\"}]}";
    syncrt_mctx c;
    syncrt_mctx_init(&c);
    syncrt_mbuf b;
    syncrt_mbuf_init(&b);
    CHECK_INT(OrderToCash_run(&c, bad, strlen(bad), &b), SYNCRT_EPARSE, "a bad record does not decode");
    CHECK_INT(syncrt_mctx_error_count(&c), 3, "every problem is reported");
    CHECK_STR(syncrt_mctx_error_text(&c, 0), "$.ID: expected integer, got string \"x\"", "path and types");
    CHECK_STR(syncrt_mctx_error_text(&c, 1), "$.Totals.Total: expected number, got string \"12\"", "nested path");
    CHECK_STR(syncrt_mctx_error_text(&c, 2), "$.SalesItems[3].Quantity: expected number, got string \"abc\"",
              "list index in the path");
    /* reuse after reset: a record without AccountKey fails required() */
    syncrt_mctx_reset(&c);
    static const char noacct[] = "{\"ID\": 5, \"SalesItems\": [{\"Sku\": \"A\", \"MasterID\": 5}]}";
    CHECK_INT(OrderToCash_run(&c, noacct, strlen(noacct), &b), SYNCRT_EINVAL, "a missing AccountKey is a mapping error");
    CHECK_STR(syncrt_mctx_error_text(&c, 0), "$.AccountKey: required value is missing", "required() names the field");
    syncrt_mbuf_free(&b);
    syncrt_mctx_free(&c);
}

static void test_iso3166(void)
{
    size_t n = syncrt_country_count();
    CHECK_INT(n, 249, "ISO 3166-1 has 249 officially assigned codes");
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const syncrt_country *k = syncrt_country_at(i);
        if (syncrt_country_find(k->alpha2, 2) != k || syncrt_country_find(k->alpha3, 3) != k ||
            syncrt_country_find(k->name, strlen(k->name)) != k)
            bad++;
    }
    CHECK_INT(bad, 0, "every alpha-2, alpha-3 and name finds its own entry");
    const syncrt_country *us = syncrt_country_find(" united  states of AMERICA ", 27);
    CHECK(us && !strcmp(us->alpha3, "USA"), "alternative names, case and white space");
    CHECK(syncrt_country_find("Atlantis", 8) == NULL, "unknown country");
    const char *r = syncrt_region_find("US", "US-CA", 5);
    CHECK(r && !strcmp(r, "CA"), "region code with the country prefix");
}

/* Mutated records (bytes changed, cut short, JSON tokens spliced in) never crash the decoder
 * (ASan/valgrind watch), and every refused record says why. */
static void test_mutations(void)
{
    static const char *const toks[] = {"\"", "{", "}", "[", "]", ",", ":", "\\", "\\u", "1e999",
                                       "-", "null", "\"\\ud800\"", "99999999999999999999999999999999999999999"};
    unsigned long long seed = 20260730;
    size_t n = strlen(order), refused = 0, silent = 0, mapped = 0;
    char *m = malloc(n + 64);
    syncrt_mctx c;
    syncrt_mctx_init(&c);
    syncrt_mbuf b;
    syncrt_mbuf_init(&b);
    for (int it = 0; m && it < 3000; it++) {
        memcpy(m, order, n);
        size_t len = n;
        int k = 1 + it % 5;
        for (int j = 0; j < k; j++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            unsigned r = (unsigned)(seed >> 33);
            size_t pos = r % len;
            switch ((r >> 8) % 3) {
            case 0: m[pos] = (char)(r >> 16); break;
            case 1: len = pos + 1; break;
            default: {
                const char *t = toks[(r >> 12) % (sizeof toks / sizeof toks[0])];
                size_t tl = strlen(t);
                if (pos + tl < len)
                    memcpy(m + pos, t, tl);
            }
            }
        }
        syncrt_mctx_reset(&c);
        b.n = 0;
        syncrt_status st = OrderToCash_run(&c, m, len, &b);
        if (st == SYNCRT_OK) {
            mapped += b.n > 0 && b.p[0] == '{';
        } else {
            refused++;
            silent += syncrt_mctx_error_count(&c) == 0;
            for (size_t e = 0; e < syncrt_mctx_error_count(&c); e++)
                (void)syncrt_mctx_error_text(&c, e);
        }
    }
    CHECK(refused > 1000 && refused < 3000, "3000 mutated records: %zu refused, %zu mapped", refused, mapped);
    CHECK_INT(silent, 0, "every refused record has at least one problem");
    syncrt_mbuf_free(&b);
    syncrt_mctx_free(&c);
    free(m);
}

int main(void)
{
    test_mutations();
    test_iso3166();
    test_decode();
    test_flow_decimals();
    test_errors();
    return test_done();
}
