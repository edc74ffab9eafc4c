/* fuzz_map.c - libFuzzer target: arbitrary bytes as a .map file through the whole front end:
 * the flex lexer and bison parser (with error recovery), then the type checker, even on the
 * partial tree recovery leaves.  Schemas come from two small in-memory documents (one F&O
 * CSDL, one CEF OpenAPI, loaded with schema_load_mem whatever path the input names), so the
 * checker's schema rules run without touching the file system; CSV tables are not read.
 * Every diagnostic is formatted (diag_format) to exercise the caret rendering.
 * Seeds: tests/fuzz/corpus/map (valid programs and broken ones). */
#include <stdlib.h>
#include <string.h>

#include "frontend.h"
#include "fuzz.h"
#include "schema.h"

#define FO_ANN(t, v) "<Annotation Term=\"Microsoft.Dynamics.OData.Core.V1." t "\" Bool=\"" v "\" />"
#define FO_AX(t)                                                                          \
    "<Annotation Term=\"Microsoft.Dynamics.OData.Core.V1.AXType\"><EnumMember>"             \
    "Microsoft.Dynamics.OData.Core.V1.AXType/" t "</EnumMember></Annotation>"

static const char fo_xml[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
    "<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\">"
    "<edmx:DataServices><Schema Namespace=\"Microsoft.Dynamics.DataEntities\" "
    "xmlns=\"http://docs.oasis-open.org/odata/ns/edm\">"
    "<EnumType Name=\"NoYes\"><Member Name=\"No\" Value=\"0\" /><Member Name=\"Yes\" Value=\"1\" />"
    "</EnumType>"
    "<EnumType Name=\"SalesStatus\"><Member Name=\"None\" Value=\"0\" />"
    "<Member Name=\"Backorder\" Value=\"1\" /><Member Name=\"Delivered\" Value=\"2\" /></EnumType>"
    "<EntityType Name=\"SalesOrderHeaderV2\"><Key><PropertyRef Name=\"dataAreaId\" />"
    "<PropertyRef Name=\"SalesOrderNumber\" /></Key>"
    "<Property Name=\"dataAreaId\" Type=\"Edm.String\" Nullable=\"false\" />"
    "<Property Name=\"SalesOrderNumber\" Type=\"Edm.String\" Nullable=\"false\">"
    FO_ANN("AllowEdit", "false") "</Property>"
    "<Property Name=\"CurrencyCode\" Type=\"Edm.String\">" FO_ANN("IsRequired", "true")
    "</Property>"
    "<Property Name=\"OrderingCustomerAccountNumber\" Type=\"Edm.String\">"
    FO_ANN("IsRequired", "true") "</Property>"
    "<Property Name=\"RequestedShippingDate\" Type=\"Edm.DateTimeOffset\" Nullable=\"false\">"
    FO_AX("Date") "</Property>"
    "<Property Name=\"OrderCreationDateTime\" Type=\"Edm.DateTimeOffset\" Nullable=\"false\">"
    FO_ANN("AllowEdit", "false") FO_ANN("AllowEditOnCreate", "false") "</Property>"
    "<Property Name=\"TotalDiscountPercentage\" Type=\"Edm.Decimal\" Nullable=\"false\" />"
    "<Property Name=\"BaseDocumentLineNumber\" Type=\"Edm.Int32\" Nullable=\"false\" />"
    "<Property Name=\"SalesOrderStatus\" Type=\"Microsoft.Dynamics.DataEntities.SalesStatus\" />"
    "<Property Name=\"IsDeliveryAddressPrivate\" Type=\"Microsoft.Dynamics.DataEntities.NoYes\" />"
    "<Property Name=\"LanguageId\" Type=\"Edm.String\" />"
    "</EntityType>"
    "<EntityType Name=\"SalesOrderLine\"><Key><PropertyRef Name=\"dataAreaId\" />"
    "<PropertyRef Name=\"InventoryLotId\" /></Key>"
    "<Property Name=\"dataAreaId\" Type=\"Edm.String\" Nullable=\"false\" />"
    "<Property Name=\"InventoryLotId\" Type=\"Edm.String\" Nullable=\"false\">"
    FO_ANN("AllowEdit", "false") FO_ANN("AllowEditOnCreate", "false") "</Property>"
    "<Property Name=\"SalesOrderNumber\" Type=\"Edm.String\">" FO_ANN("IsRequired", "true")
    "</Property>"
    "<Property Name=\"ItemNumber\" Type=\"Edm.String\">" FO_ANN("IsRequired", "true")
    "</Property>"
    "<Property Name=\"OrderedSalesQuantity\" Type=\"Edm.Decimal\" Nullable=\"false\" />"
    "<Property Name=\"SalesPrice\" Type=\"Edm.Decimal\" Nullable=\"false\" />"
    "</EntityType>"
    "<EntityType Name=\"WarehouseOnHandV2\"><Key><PropertyRef Name=\"ItemNumber\" /></Key>"
    "<Property Name=\"ItemNumber\" Type=\"Edm.String\" Nullable=\"false\" />"
    "<Property Name=\"AvailableOnHandQuantity\" Type=\"Edm.Decimal\" Nullable=\"false\" />"
    FO_ANN("IsReadOnly", "true") "</EntityType>"
    "<EntityType Name=\"CashControlConfiguration\">"
    "<Property Name=\"Description\" Type=\"Edm.String\" /></EntityType>"
    "<EntityContainer Name=\"Resources\">"
    "<EntitySet Name=\"SalesOrderHeadersV2\" "
    "EntityType=\"Microsoft.Dynamics.DataEntities.SalesOrderHeaderV2\" />"
    "<EntitySet Name=\"SalesOrderLines\" EntityType=\"Microsoft.Dynamics.DataEntities.SalesOrderLine\" />"
    "<EntitySet Name=\"WarehousesOnHandV2\" "
    "EntityType=\"Microsoft.Dynamics.DataEntities.WarehouseOnHandV2\" />"
    "<EntitySet Name=\"CashControlConfigurations\" "
    "EntityType=\"Microsoft.Dynamics.DataEntities.CashControlConfiguration\" />"
    "</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>";

static const char cef_json[] =
    "{\"openapi\":\"3.0.3\",\"info\":{\"title\":\"cef\",\"version\":\"1\"},"
    "\"paths\":{\"/Ordering/SalesOrders\":{\"get\":{\"responses\":{\"200\":{\"description\":\"ok\","
    "\"content\":{\"application/json\":{\"schema\":{\"type\":\"object\",\"properties\":{"
    "\"Results\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/SalesOrder\"}}}}}}}}}},"
    "\"/Products/Products\":{\"get\":{\"responses\":{\"200\":{\"description\":\"ok\","
    "\"content\":{\"application/json\":{\"schema\":{\"type\":\"object\",\"properties\":{"
    "\"Results\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/Product\"}}}}}}}}}}},"
    "\"components\":{\"schemas\":{"
    "\"Address\":{\"type\":\"object\",\"properties\":{\"City\":{\"type\":\"string\"},"
    "\"CountryCode\":{\"type\":\"string\"}}},"
    "\"SalesItem\":{\"type\":\"object\",\"properties\":{\"ID\":{\"type\":\"integer\",\"format\":\"int32\"},"
    "\"MasterID\":{\"type\":\"integer\",\"format\":\"int32\"},\"Sku\":{\"type\":\"string\"},"
    "\"Quantity\":{\"type\":\"number\"},\"UnitSoldPrice\":{\"type\":\"number\"}}},"
    "\"SalesOrder\":{\"type\":\"object\",\"properties\":{\"ID\":{\"type\":\"integer\",\"format\":\"int32\"},"
    "\"CustomKey\":{\"type\":\"string\"},\"AccountKey\":{\"type\":\"string\"},"
    "\"StatusKey\":{\"type\":\"string\"},\"IsGift\":{\"type\":\"boolean\"},"
    "\"RequestedShipDate\":{\"type\":\"string\",\"format\":\"date-time\"},"
    "\"Total\":{\"type\":\"number\"},\"Address\":{\"$ref\":\"#/components/schemas/Address\"},"
    "\"SalesItems\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/SalesItem\"}}}},"
    "\"Product\":{\"type\":\"object\",\"required\":[\"Name\"],\"properties\":{"
    "\"CustomKey\":{\"type\":\"string\"},\"Name\":{\"type\":\"string\"},"
    "\"PriceBase\":{\"type\":\"number\"}}}}}}";

static int fuzz_loader(void *user, schema **out, const char *path, schema_format fmt,
                       const char *const *want, size_t nwant, schema_error *err)
{
    (void)user;
    if (fmt == SCHEMA_ODATA)
        return schema_load_mem(out, fo_xml, sizeof fo_xml - 1, path, fmt, want, nwant, err);
    return schema_load_mem(out, cef_json, sizeof cef_json - 1, path, fmt, want, nwant, err);
}

static void fuzz_sink(void *user, const diag_message *m)
{
    size_t *total = user;
    char *text = diag_format(m);
    if (text) {
        *total += strlen(text);
        free(text);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t total = 0;
    diag_ctx d;
    diag_init(&d, fuzz_sink, &total, 50);
    mapc_program *p = mapc_program_new(&d);
    if (p) {
        p->offline = true;
        p->loader = fuzz_loader;
        if (mapc_program_add_source(p, "fuzz.map", (const char *)data, size) != -2)
            mapc_program_check(p);
        mapc_program_free(p);
    }
    diag_cleanup(&d);
    return 0;
}
