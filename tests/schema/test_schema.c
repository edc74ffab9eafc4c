/* test_schema.c - unit tests of the schema model and its two loaders (CSDL, OpenAPI) on the
 * fixtures of tests/schema/fixtures and the real F&O excerpts of tests/schema/data.
 * Usage: test_schema DIR (DIR = tests/schema).  TAP on stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"
#include "testhelp.h"

static const char *dir;

static schema *load(const char *rel, schema_format fmt, const char *const *want, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    schema *s = NULL;
    schema_error err;
    if (schema_load(&s, path, fmt, want, n, &err) < 0) {
        printf("# load %s failed: %s:%d:%d: %s\n", rel, err.file, err.line, err.column, err.text);
        return NULL;
    }
    return s;
}

static const schema_prop *prop(const schema *s, const char *type, const char *name)
{
    return schema_type_find_prop(schema_find_type(s, type), name);
}

static size_t materialised(const schema *s)
{
    size_t n = 0;
    for (size_t i = 0; i < schema_type_count(s); i++)
        if (schema_find_type(s, schema_type_name(s, i)))
            n++;
    return n;
}

/* Load from memory and expect an error at line:col whose text contains `text`. */
static void expect_error(const char *doc, schema_format fmt, const char *text, int line,
                         int col, const char *what)
{
    schema *s = NULL;
    schema_error err;
    int rc = schema_load_mem(&s, doc, strlen(doc), "mem.doc", fmt, NULL, 0, &err);
    CHECK(rc == -1 && s == NULL, "%s: fails", what);
    if (rc == 0) {
        schema_free(s);
        return;
    }
    CHECK(strstr(err.text, text) != NULL, "%s: message has '%s' (got '%s')", what, text,
          err.text);
    CHECK_STR(err.file, "mem.doc", "%s: file name", what);
    if (line >= 0)
        CHECK_INT(err.line, line, "%s: line", what);
    if (col >= 0)
        CHECK_INT(err.column, col, "%s: column", what);
}

static void test_customer(void)
{
    const char *want[] = {"CustomersV3"};
    schema *s = load("data/customer_v3_excerpt.xml", SCHEMA_ODATA, want, 1);
    CHECK(s != NULL, "customer_v3: loads by set name");
    if (!s)
        return;
    const schema_type *t = schema_find_type(s, "CustomerV3");
    CHECK(t != NULL && t == schema_find_type(s, "CustomersV3"), "CustomerV3 materialised via its set");
    if (!t)
        goto out;
    CHECK_INT(t->nprops, 305, "CustomerV3 has 305 properties");
    CHECK_INT(t->nkeys, 2, "two keys");
    CHECK_STR(t->keys[0], "dataAreaId", "key 1");
    CHECK_STR(t->keys[1], "CustomerAccount", "key 2");
    CHECK_STR(t->qualified, "Microsoft.Dynamics.DataEntities.CustomerV3", "qualified name");
    CHECK(t->is_entity && !t->read_only, "entity, writable");
    const schema_prop *p = schema_type_find_prop(t, "SalesCurrencyCode");
    CHECK(p && p->required && p->nullable && p->type.kind == SK_STRING, "SalesCurrencyCode required string");
    p = schema_type_find_prop(t, "CustomerGroupId");
    CHECK(p && p->required, "CustomerGroupId required");
    p = schema_type_find_prop(t, "dataAreaId");
    CHECK(p && p->key && !p->nullable, "dataAreaId key, not null");
    p = schema_type_find_prop(t, "CustomerAccount");
    CHECK(p && p->key && p->line > 0, "CustomerAccount key with a line");
    p = schema_type_find_prop(t, "IsFuelSurchargeApplied");
    CHECK(p && p->type.kind == SK_ENUM && p->type.enumt &&
          !strcmp(p->type.enumt->name, "NoYes") && schema_enum_has_member(p->type.enumt, "Yes"),
          "NoYes enum property");
    CHECK_STR(schema_set_for_type(s, "CustomerV3"), "CustomersV3", "set for type");
    CHECK_STR(schema_type_for_set(s, "CustomersV3"), "CustomerV3", "type for set");
    const schema_enum *ax = schema_find_enum(s, "Microsoft.Dynamics.OData.Core.V1.AXType");
    CHECK(ax && ax->nmembers == 12, "second Schema's AXType enum indexed (qualified)");
    size_t req = 0, date = 0;
    for (size_t i = 0; i < t->nprops; i++) {
        req += t->props[i].required;
        date += t->props[i].is_date && t->props[i].type.kind == SK_DATE;
    }
    CHECK_INT(req, 2, "exactly two IsRequired properties");
    CHECK_INT(date, 7, "seven AXType Date properties are dates");
out:
    schema_free(s);
}

static void test_want_real(void)
{
    const char *want[] = {"CustomerParameters"};
    schema *s = load("data/sales_trimmed_metadata.xml", SCHEMA_ODATA, want, 1);
    CHECK(s != NULL, "sales_trimmed loads");
    if (!s)
        return;
    CHECK_INT(schema_type_count(s), 18, "18 types indexed");
    CHECK_INT(materialised(s), 1, "only the wanted type materialised");
    CHECK(schema_find_type(s, "CustomerParameters") != NULL, "CustomerParameters materialised");
    CHECK(schema_find_type(s, "DirParameters") == NULL && schema_knows_name(s, "DirParameters"),
          "DirParameters known, not materialised");
    CHECK(!schema_knows_name(s, "NoSuchThing"), "unknown name");
    /* swapped set/type names in the real file */
    CHECK_STR(schema_type_for_set(s, "SalesAutomaticSalesDocumentHeaderCharge"),
              "SalesAutomaticSalesDocumentHeaderCharges", "swapped set 1");
    CHECK_STR(schema_type_for_set(s, "SalesAutomaticSalesDocumentHeaderCharges"),
              "SalesAutomaticSalesDocumentHeaderCharge", "swapped set 2");
    schema_free(s);

    const char *qual[] = {"Microsoft.Dynamics.DataEntities.DirParameters"};
    s = load("data/sales_trimmed_metadata.xml", SCHEMA_ODATA, qual, 1);
    CHECK(s && materialised(s) == 1 &&
          schema_find_type(s, "Microsoft.Dynamics.DataEntities.DirParameters") ==
              schema_find_type(s, "DirParameters") && schema_find_type(s, "DirParameters"),
          "a qualified want name, and lookup by qualified name");
    schema_free(s);
    const char *none[] = {NULL};
    s = load("data/sales_trimmed_metadata.xml", SCHEMA_ODATA, none, 0);
    CHECK(s && materialised(s) == 0 && schema_set_count(s) > 0, "want of nothing: index only");
    schema_free(s);
    s = load("data/sales_trimmed_metadata.xml", SCHEMA_ODATA, NULL, 0);
    CHECK(s && materialised(s) == 18, "want NULL: everything materialised");
    schema_free(s);
}

static void test_fo_edge(void)
{
    schema *s = load("fixtures/csdl_fo_edge.xml", SCHEMA_ODATA, NULL, 0);
    CHECK(s != NULL, "F&O edge fixture loads (BOM, two schemas, undeclared terms)");
    if (!s)
        return;
    CHECK_INT(schema_get_format(s), SCHEMA_ODATA, "format");
    const schema_enum *tz = schema_find_enum(s, "Timezone");
    CHECK(tz && tz->nmembers == 4 && tz->members[1].value == 255 && tz->members[2].value == 255 &&
          tz->members[3].value == -1, "duplicated and negative enum values kept");
    const schema_type *cert = schema_find_type(s, "Certification");
    CHECK(cert && cert->nkeys == 0 && cert->read_only, "keyless entity, IsReadOnly");
    const schema_prop *p = schema_type_find_prop(cert, "ValidFrom");
    CHECK(p && p->type.kind == SK_DATE && p->is_date, "AXType Date on DateTimeOffset -> date");
    CHECK_STR(p ? p->type.name : NULL, "Edm.DateTimeOffset", "type name as written");
    p = schema_type_find_prop(cert, "ValidTo");
    CHECK(p && p->type.kind == SK_DATETIME && !p->is_date, "AXType UtcDateTime stays datetime");
    /* swapped names: a name is a type first, then a set */
    const schema_type *sc = schema_find_type(s, "SalesCharges");
    CHECK(sc && !strcmp(sc->name, "SalesCharges"), "type name wins over set name");
    CHECK_STR(schema_type_for_set(s, "SalesCharges"), "SalesCharge", "set SalesCharges -> SalesCharge");
    CHECK_STR(schema_set_for_type(s, "SalesCharge"), "SalesCharges", "type SalesCharge -> set SalesCharges");
    CHECK_STR(schema_find_type(s, "SalesCharge")->entity_set, "SalesCharges", "entity_set field");
    CHECK(schema_find_type(s, "Certification")->entity_set != NULL, "entity_set of Certification");
    p = prop(s, "SalesCharge", "ChargeCode");
    CHECK(p && p->key && !p->allow_edit && p->allow_edit_on_create, "AllowEdit false");
    p = prop(s, "SalesCharge", "Voucher");
    CHECK(p && !p->allow_edit && !p->allow_edit_on_create, "AllowEditOnCreate false");
    p = prop(s, "SalesCharge", "Amount");
    CHECK(p && p->required && p->type.kind == SK_DECIMAL && !p->nullable, "IsRequired true");
    p = prop(s, "SalesCharge", "IsTaxed");
    CHECK(p && !p->required && p->allow_edit && p->type.kind == SK_ENUM, "IsRequired false");
    /* enum and entity named alike */
    const schema_enum *de = schema_find_enum(s, "DeliveryTerms");
    const schema_type *dt = schema_find_type(s, "DeliveryTerms");
    CHECK(de && de->nmembers == 1 && dt && dt->is_entity, "enum and entity type named alike");
    p = prop(s, "DeliveryTerms", "Kind");
    CHECK(p && p->type.kind == SK_ENUM && p->type.enumt == de, "property type resolves to the enum");
    CHECK_STR(schema_set_for_type(s, "DeliveryTerms"), "DeliveryTermsSet", "its set");
    CHECK(schema_find_enum(s, "Microsoft.Dynamics.OData.Core.V1.AXType") != NULL,
          "second schema's enum");
    CHECK_INT(schema_set_count(s), 4, "4 sets (dangling bindings tolerated)");
    schema_free(s);
}

static void test_generic(void)
{
    schema *s = load("fixtures/csdl_generic.xml", SCHEMA_ODATA, NULL, 0);
    CHECK(s != NULL, "generic CSDL loads");
    if (!s)
        return;
    const schema_type *t = schema_find_type(s, "Products");
    CHECK(t && !strcmp(t->name, "Product") && t->nprops == 27, "Product via set, 27 props");
    if (!t)
        goto out;
    static const struct {
        const char *name;
        schema_kind kind;
    } kinds[] = {
        {"Id", SK_INT32},        {"Name", SK_STRING},      {"Price", SK_DECIMAL},
        {"Released", SK_DATE},   {"OpensAt", SK_TIME},     {"Warranty", SK_TIME},
        {"Modified", SK_DATETIME}, {"Rowguid", SK_GUID},   {"Photo", SK_BINARY},
        {"Stock", SK_INT64},     {"Shelf", SK_INT32},      {"Bin", SK_INT32},
        {"Active", SK_BOOLEAN},  {"Colors", SK_ENUM},      {"Size", SK_ENUM},
        {"Tags", SK_ARRAY},      {"Box", SK_OBJECT},       {"Code", SK_STRING},
        {"Location", SK_ANY},    {"Legacy", SK_OBJECT},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const schema_prop *p = schema_type_find_prop(t, kinds[i].name);
        CHECK(p && p->type.kind == kinds[i].kind, "%s is %s", kinds[i].name,
              schema_kind_name(kinds[i].kind));
    }
    const schema_prop *p = schema_type_find_prop(t, "Name");
    CHECK(p && p->max_length == 100 && !p->nullable, "MaxLength 100");
    p = schema_type_find_prop(t, "Description");
    CHECK(p && p->max_length == SCHEMA_UNSTATED, "MaxLength max -> unstated");
    p = schema_type_find_prop(t, "Price");
    CHECK(p && p->precision == 18 && p->scale == 4, "Precision/Scale");
    p = schema_type_find_prop(t, "Weight");
    CHECK(p && p->precision == 12 && p->scale == SCHEMA_SCALE_VARIABLE, "Scale variable");
    p = schema_type_find_prop(t, "Rating");
    CHECK(p && p->precision == SCHEMA_UNSTATED && p->scale == SCHEMA_UNSTATED, "facets unstated");
    p = schema_type_find_prop(t, "Id");
    CHECK(p && p->computed && p->key, "Core.Computed tag (alias) -> computed");
    p = schema_type_find_prop(t, "Modified");
    CHECK(p && p->computed, "Org.OData.Core.V1.Computed Bool=true");
    p = schema_type_find_prop(t, "Audited");
    CHECK(p && !p->computed, "Computed Bool=false");
    p = schema_type_find_prop(t, "Colors");
    CHECK(p && p->type.enumt && p->type.enumt->is_flags && p->type.enumt->members[2].value == 4,
          "flags enum via namespace alias");
    p = schema_type_find_prop(t, "Size");
    CHECK(p && p->type.enumt && p->type.enumt->members[1].value == 1 &&
          p->type.enumt->members[3].value == 11, "implicit enum values");
    p = schema_type_find_prop(t, "Sizes");
    CHECK(p && p->type.kind == SK_ARRAY && p->type.elem && p->type.elem->kind == SK_ENUM,
          "Collection(enum)");
    p = schema_type_find_prop(t, "Boxes");
    CHECK(p && p->type.kind == SK_ARRAY && p->type.elem->kind == SK_OBJECT &&
          p->type.elem->object == schema_find_type(s, "Dimensions"), "Collection(complex) via alias");
    p = schema_type_find_prop(t, "Box");
    CHECK(p && p->type.object && p->type.object->nprops == 2 && !p->type.object->is_entity,
          "complex type linked");
    p = schema_type_find_prop(t, "Legacy");
    CHECK(p && p->type.object == NULL, "dangling type reference: object NULL");
    p = schema_type_find_prop(t, "Code");
    CHECK(p && p->max_length == 40, "TypeDefinition facets inherited");
    const schema_nav *n = schema_type_find_nav(t, "Reviews");
    CHECK(n && n->collection && !strcmp(n->target, "Review"), "collection navigation (dangling)");
    n = schema_type_find_nav(t, "Category");
    CHECK(n && !n->collection && !strcmp(n->target, "Category"), "single navigation");
    const schema_type *b = schema_find_type(s, "Books");
    CHECK(b && b->nprops == 3 && b->nkeys == 1 && !strcmp(b->props[0].name, "ItemId") &&
          b->props[0].key, "BaseType: inherited properties and key");
    const schema_type *l = schema_find_type(s, "Loop1");
    CHECK(l != NULL, "BaseType cycle terminates");
    const schema_type *c = schema_find_type(s, "Category");
    CHECK(c && c->read_only, "Annotations block on a type");
    CHECK(prop(s, "Category", "Title") && prop(s, "Category", "Title")->computed,
          "Annotations block on a property");
    p = prop(s, "Category", "Opened");
    CHECK(p && p->required && !p->allow_edit && p->is_date && p->type.kind == SK_DATE,
          "annotation values as <Bool> elements and an EnumMember attribute");
out:
    schema_free(s);

    /* want: the entity, the complex types it uses (declared before AND after it) */
    const char *want[] = {"Products"};
    s = load("fixtures/csdl_generic.xml", SCHEMA_ODATA, want, 1);
    CHECK(s != NULL, "generic with want");
    if (s) {
        CHECK(schema_find_type(s, "Product") && schema_find_type(s, "Dimensions") &&
              schema_find_type(s, "Address"), "wanted type and referenced complex types");
        CHECK(!schema_find_type(s, "Category") && !schema_find_type(s, "Book"),
              "unreferenced types not materialised");
        CHECK_INT(materialised(s), 3, "three materialised");
        p = prop(s, "Address", "Geo");
        CHECK(p && p->type.object == schema_find_type(s, "Dimensions"), "nested complex linked");
    }
    schema_free(s);
    const char *want2[] = {"Book"};
    s = load("fixtures/csdl_generic.xml", SCHEMA_ODATA, want2, 1);
    CHECK(s && schema_find_type(s, "Book") && schema_find_type(s, "Book")->nprops == 3,
          "want of a derived type pulls its base");
    schema_free(s);
}

static void test_csdl_errors(void)
{
    expect_error("<?xml version=\"1.0\"?>\n<edmx:Edmx Version=\"4.0\" "
                 "xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\">\n"
                 "  <edmx:DataServices>\n    <Schema Namespace=\"A\">\n"
                 "      <EntityType Name=\"X\">\n      </EntityTyp>\n",
                 SCHEMA_ODATA, "mismatch", 6, -1, "CSDL mismatched tag");
    expect_error("<edmx:Edmx Version=\"1.0\" xmlns:edmx=\"http://schemas.microsoft.com/ado/2007/06/edmx\">"
                 "</edmx:Edmx>", SCHEMA_ODATA, "unsupported EDMX version '1.0'", 1, -1,
                 "CSDL version 1.0");
    expect_error("<html><body/></html>", SCHEMA_ODATA, "not a CSDL document", 1, -1,
                 "CSDL wrong root");
    expect_error("<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"e\"><edmx:DataServices>\n"
                 "<Schema Namespace=\"A\">\n<EntityType>\n<Property Name=\"P\" Type=\"Edm.String\"/>"
                 "</EntityType></Schema></edmx:DataServices></edmx:Edmx>",
                 SCHEMA_ODATA, "EntityType without Name", 3, 1, "CSDL missing Name");
    expect_error("<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"e\"><edmx:DataServices>\n"
                 "<Schema Namespace=\"A\">\n<EntityType Name=\"T\">\n\n"
                 "<Property Name=\"P\" Type=\"Edm.String\" MaxLength=\"ten\"/>"
                 "</EntityType></Schema></edmx:DataServices></edmx:Edmx>",
                 SCHEMA_ODATA, "invalid MaxLength", 5, 1, "CSDL bad MaxLength");
    expect_error("<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"e\"><edmx:DataServices>\n"
                 "<Schema Namespace=\"A\"><EnumType Name=\"E\">\n<Member Name=\"a\" Value=\"x1\"/>"
                 "</EnumType></Schema></edmx:DataServices></edmx:Edmx>",
                 SCHEMA_ODATA, "invalid enum member Value", 3, 1, "CSDL bad enum value");
    expect_error("", SCHEMA_ODATA, "", -1, -1, "CSDL empty document");
    expect_error("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<edmx:Edmx Version=\"4.0\" "
                 "xmlns:edmx=\"e\">\xff\xff</edmx:Edmx>",
                 SCHEMA_ODATA, "not proper UTF-8", 2, -1, "CSDL invalid UTF-8");
    expect_error("<?xml version=\"1.0\" encoding=\"ISO-2022-JP\"?>\n<edmx:Edmx Version=\"4.0\" "
                 "xmlns:edmx=\"e\">\x1b$B\xff\xff\xff\xff</edmx:Edmx>",
                 SCHEMA_ODATA, "conversion failed", -1, -1, "CSDL undecodable bytes (iconv)");
    expect_error("<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"e\"><edmx:DataServices>\n"
                 "<Schema Namespace=\"A\"><EntityType Name=\"T\">",
                 SCHEMA_ODATA, "", 2, -1, "CSDL truncated document");
    schema *s = NULL;
    schema_error err;
    CHECK(schema_load(&s, "/nonexistent/x.xml", SCHEMA_ODATA, NULL, 0, &err) == -1 &&
          strstr(err.text, "cannot open") && !strcmp(err.file, "/nonexistent/x.xml"),
          "missing file reported");
}

static void test_openapi2(void)
{
    schema *s = load("fixtures/oa2.json", SCHEMA_OPENAPI, (const char *[]){"SalesOrders"}, 1);
    CHECK(s != NULL, "OpenAPI 2.0 loads (want a set)");
    if (!s)
        return;
    CHECK_INT(schema_get_format(s), SCHEMA_OPENAPI, "format");
    CHECK_INT(schema_set_count(s), 3, "3 sets derived from paths");
    CHECK_STR(schema_type_for_set(s, "SalesOrders"), "SalesOrder", "paged Results -> set");
    CHECK_STR(schema_type_for_set(s, "Products"), "Product", "inline paged -> set");
    CHECK_STR(schema_type_for_set(s, "AccountsDigest"), "DigestItem", "array reply -> set");
    CHECK(schema_type_for_set(s, "Ping") == NULL, "a string reply is no set");
    const schema_type *t = schema_find_type(s, "SalesOrders");
    CHECK(t && !strcmp(t->name, "SalesOrder") && t->is_entity, "SalesOrder via its set");
    if (!t)
        goto out;
    CHECK_INT(t->nprops, 23, "allOf merged: 5 + 18 properties");
    CHECK(t->nkeys == 1 && !strcmp(t->keys[0], "ID"), "x-keys");
    const schema_prop *p = schema_type_find_prop(t, "ID");
    CHECK(p && p->required && !p->nullable && p->computed && p->key && p->type.kind == SK_INT32,
          "ID: required from the allOf base, readOnly, int32");
    p = schema_type_find_prop(t, "CustomKey");
    CHECK(p && p->max_length == 128 && p->nullable && !p->required, "maxLength, optional");
    p = schema_type_find_prop(t, "UpdatedDate");
    CHECK(p && p->type.kind == SK_DATETIME && p->nullable, "date-time, x-nullable");
    p = schema_type_find_prop(t, "AccountKey");
    CHECK(p && p->required && !p->nullable, "required[] of an allOf member");
    p = schema_type_find_prop(t, "StatusKey");
    CHECK(p && p->type.kind == SK_ENUM && p->type.enumt == schema_find_enum(s, "OrderStatus") &&
          p->type.enumt->nmembers == 4, "$ref to a named enum");
    CHECK_STR(p ? p->type.name : NULL, "#/definitions/OrderStatus", "ref name as written");
    static const struct {
        const char *name;
        schema_kind kind;
    } kinds[] = {
        {"RequestedShipDate", SK_DATE}, {"PaymentTransactionID", SK_GUID},
        {"Signature", SK_BINARY},       {"Hash", SK_INT64},
        {"Sequence", SK_INT64},         {"Weight", SK_DOUBLE},
        {"BalanceDue", SK_DECIMAL},     {"Totals", SK_OBJECT},
        {"SalesItems", SK_ARRAY},       {"Notes", SK_ARRAY},
        {"Priority", SK_ENUM},          {"SerializableAttributes", SK_ANY},
        {"Meta", SK_OBJECT},            {"Anything", SK_ANY},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        p = schema_type_find_prop(t, kinds[i].name);
        CHECK(p && p->type.kind == kinds[i].kind, "%s is %s", kinds[i].name,
              schema_kind_name(kinds[i].kind));
    }
    p = schema_type_find_prop(t, "Priority");
    CHECK(p && p->type.enumt && schema_enum_has_member(p->type.enumt, "High"), "inline enum members");
    p = schema_type_find_prop(t, "Meta");
    CHECK(p && p->type.object && p->type.object->nprops == 2 &&
          p->type.object->props[1].type.kind == SK_INT32, "nested inline object");
    p = schema_type_find_prop(t, "SalesItems");
    const schema_type *item = p && p->type.elem ? p->type.elem->object : NULL;
    CHECK(item && item == schema_find_type(s, "SalesItem"), "array of $ref");
    const schema_prop *back = schema_type_find_prop(item, "Order");
    CHECK(back && back->type.object == t, "reference cycle SalesOrder <-> SalesItem linked");
    const schema_type *ct = schema_find_type(s, "Contact");
    p = schema_type_find_prop(ct, "Friend");
    CHECK(p && p->type.object == ct, "self reference");
    p = schema_type_find_prop(ct, "Address");
    CHECK(p && p->type.object == schema_find_type(s, "Address") && p->type.object,
          "nested $ref chain (alias -> Address)");
    p = prop(s, "SalesItem", "UnitSoldPrice");
    CHECK(p && p->nullable && !p->required, "x-nullable");
    p = prop(s, "SalesItem", "Quantity");
    CHECK(p && !p->nullable && p->required, "required");
    p = prop(s, "CartTotals", "Discount");
    CHECK(p && p->type.kind == SK_DECIMAL && !strcmp(p->type.name, "#/definitions/Money"),
          "$ref to a named primitive");
    CHECK(!schema_knows_name(s, "Money"), "a named primitive is not a type");
    CHECK(schema_find_type(s, "Product") == NULL && schema_knows_name(s, "Product"),
          "unwanted type not materialised");
    CHECK(schema_find_type(s, "Unused") == NULL, "broken $ref in an unwanted type is not read");
out:
    schema_free(s);

    schema_error err;
    s = NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/fixtures/oa2.json", dir);
    int rc = schema_load(&s, path, SCHEMA_OPENAPI, NULL, 0, &err);
    /* find the broken ref's position independently */
    FILE *f = fopen(path, "r");
    char line[4096];
    int ln = 0, want_line = 0, want_col = 0;
    while (f && fgets(line, sizeof line, f)) {
        ln++;
        char *h = strstr(line, "\"#/definitions/Nowhere\"");
        if (h && !want_line) {
            want_line = ln;
            want_col = (int)(h - line) + 1;
        }
    }
    if (f)
        fclose(f);
    CHECK(rc == -1 && strstr(err.text, "unresolved $ref '#/definitions/Nowhere'"),
          "want everything: broken $ref reported");
    CHECK(err.line == want_line && err.column == want_col, "broken $ref at %d:%d (got %d:%d)",
          want_line, want_col, err.line, err.column);
    schema_free(s);
}

static void test_openapi3(void)
{
    schema *s = load("fixtures/oa3.json", SCHEMA_OPENAPI, NULL, 0);
    CHECK(s != NULL, "OpenAPI 3.0 loads");
    if (!s)
        return;
    CHECK_STR(schema_type_for_set(s, "orders"), "Order", "value[] wrapper -> set");
    CHECK_STR(schema_type_for_set(s, "customers"), "Customer", "response $ref -> set");
    const schema_type *o = schema_find_type(s, "Order");
    CHECK(o && o->nkeys == 1 && !strcmp(o->keys[0], "id"), "x-key");
    const schema_prop *p = schema_type_find_prop(o, "note");
    CHECK(p && p->nullable && p->max_length == 500, "nullable: true, maxLength");
    p = schema_type_find_prop(o, "code");
    CHECK(p && p->nullable && p->type.kind == SK_STRING, "type [string, null]");
    p = schema_type_find_prop(o, "total");
    CHECK(p && p->type.kind == SK_DOUBLE, "number float -> double");
    p = schema_type_find_prop(o, "customer");
    CHECK(p && p->required && !p->nullable && p->type.object == schema_find_type(s, "Customer"),
          "required $ref object");
    p = schema_type_find_prop(o, "flags");
    CHECK(p && p->type.kind == SK_ARRAY && p->type.elem->kind == SK_ARRAY &&
          p->type.elem->elem->kind == SK_BOOLEAN, "array of arrays");
    p = schema_type_find_prop(o, "lines");
    const schema_type *ln = p && p->type.elem ? p->type.elem->object : NULL;
    CHECK(ln && ln->nprops == 3, "items allOf [$ref] -> merged object");
    p = schema_type_find_prop(o, "status");
    CHECK(p && p->type.kind == SK_ENUM && p->type.enumt->nmembers == 2, "enum with null member");
    const schema_type *line = schema_find_type(s, "Line");
    p = schema_type_find_prop(line, "sku");
    CHECK(line && line->nprops == 3 && p && p->max_length == 20, "allOf later member wins");
    p = schema_type_find_prop(line, "qty");
    CHECK(p && p->required && p->type.kind == SK_INT32, "allOf required");
    p = prop(s, "Customer", "name");
    CHECK(p && p->required && p->nullable, "required but nullable: true");
    p = prop(s, "Customer", "opens");
    CHECK(p && p->type.kind == SK_TIME, "format time");
    CHECK(schema_find_type(s, "SelfAll") != NULL, "allOf self cycle terminates");
    schema_free(s);
}

static void test_openapi_errors(void)
{
    expect_error("{\n  \"swagger\": \"2.0\",\n  \"definitions\": {\n    \"A\": {\"type\": \"object\",,}\n",
                 SCHEMA_OPENAPI, "", 4, -1, "JSON syntax error");
    expect_error("{\"swagger\": \"1.2\"}", SCHEMA_OPENAPI, "unsupported Swagger version '1.2'",
                 1, 2, "Swagger 1.2");
    expect_error("{\n\"openapi\": \"4.0.0\"}", SCHEMA_OPENAPI, "unsupported OpenAPI version",
                 2, 1, "OpenAPI 4");
    expect_error("{\"info\": {}}", SCHEMA_OPENAPI, "not an OpenAPI document", 1, 1,
                 "no version field");
    expect_error("[1, 2]", SCHEMA_OPENAPI, "JSON object", 1, 1, "root not an object");
    expect_error("{\"swagger\": \"2.0\", \"definitions\": {\"A\": {\"properties\": {\n"
                 "  \"b\": {\"$ref\": \"other.json#/definitions/B\"}}}}}",
                 SCHEMA_OPENAPI, "external $ref", 2, 17, "external $ref");
    expect_error("{\"swagger\": \"2.0\", \"definitions\": {\"A\": {\"properties\": {\n"
                 "  \"b\": {\"$ref\": \"#/definitions/B\"}}},\n"
                 " \"B\": {\"$ref\": \"#/definitions/C\"}, \"C\": {\"$ref\": \"#/definitions/B\"}}}",
                 SCHEMA_OPENAPI, "circular $ref", -1, -1, "circular $ref chain");
    expect_error("{\"openapi\": \"3.1.0\", \"components\": {\"schemas\": []}}", SCHEMA_OPENAPI,
                 "not an object", 1, -1, "schemas not an object");
    expect_error("{\"swagger\": \"2.0\", \"definitions\": {\"A\": {\"properties\": 3}}}",
                 SCHEMA_OPENAPI, "'properties' is not an object", 1, -1, "properties not an object");
}

static void test_openapi_sets_lenient(void)
{
    const char *doc = "{\"swagger\":\"2.0\",\"paths\":{\"/a/Xs\":{\"get\":{\"responses\":"
                      "{\"200\":{\"$ref\":\"#/responses/Nope\"}}}},\"/a/Ys\":{\"get\":"
                      "{\"responses\":{\"200\":{\"schema\":{\"type\":\"array\",\"items\":"
                      "{\"$ref\":\"#/definitions/X\"}}}}}}},\"definitions\":{\"X\":"
                      "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}}}";
    schema *s = NULL;
    schema_error err;
    int rc = schema_load_mem(&s, doc, strlen(doc), "m.json", SCHEMA_OPENAPI, NULL, 0, &err);
    CHECK(rc == 0 && schema_set_count(s) == 1 && !strcmp(schema_set_name(s, 0), "Ys"),
          "a broken $ref in a route only means no set from that route");
    schema_free(s);
}

static void test_openapi_sets_marked(void)
{
    /* With x-entity-set markers only the marked routes are sets: the digest route returning
     * an array of X does not become one, and the marker names the set. */
    const char *doc = "{\"swagger\":\"2.0\",\"paths\":{"
                      "\"/a/XsDigest\":{\"get\":{\"responses\":{\"200\":{\"schema\":"
                      "{\"type\":\"array\",\"items\":{\"$ref\":\"#/definitions/X\"}}}}}},"
                      "\"/a/Xs\":{\"get\":{\"x-entity-set\":\"Exes\",\"x-entity-type\":\"X\","
                      "\"responses\":{\"200\":{\"schema\":{\"type\":\"object\"}}}}}},"
                      "\"definitions\":{\"X\":"
                      "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}}}";
    schema *s = NULL;
    schema_error err;
    int rc = schema_load_mem(&s, doc, strlen(doc), "m.json", SCHEMA_OPENAPI, NULL, 0, &err);
    CHECK(rc == 0 && schema_set_count(s) == 1 && !strcmp(schema_set_name(s, 0), "Exes") &&
              !strcmp(schema_set_type(s, 0), "X"),
          "x-entity-set markers: only marked routes are sets, named by the marker");
    schema_free(s);
}

static void test_guess(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/data/customer_v3_excerpt.xml", dir);
    CHECK_INT(schema_guess_format(path), SCHEMA_ODATA, "guess .xml");
    snprintf(path, sizeof path, "%s/fixtures/oa2.json", dir);
    CHECK_INT(schema_guess_format(path), SCHEMA_OPENAPI, "guess .json");
    snprintf(path, sizeof path, "%s/fixtures/bom_xml.txt", dir);
    CHECK_INT(schema_guess_format(path), SCHEMA_ODATA, "guess from first byte after a BOM");
    snprintf(path, sizeof path, "%s/fixtures/oa_json.txt", dir);
    CHECK_INT(schema_guess_format(path), SCHEMA_OPENAPI, "guess from first byte '{'");
    CHECK_INT(schema_guess_format("/nonexistent/file"), -1, "cannot tell");
    CHECK_STR(schema_kind_name(SK_DECIMAL), "decimal", "kind name");
}

int main(int argc, char **argv)
{
    dir = argc > 1 ? argv[1] : "tests/schema";
    test_customer();
    test_want_real();
    test_fo_edge();
    test_generic();
    test_csdl_errors();
    test_openapi2();
    test_openapi3();
    test_openapi_errors();
    test_openapi_sets_lenient();
    test_openapi_sets_marked();
    test_guess();
    return test_done();
}
