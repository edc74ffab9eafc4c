#!/usr/bin/env python3
"""gen_openapi.py - writes specs/clarity/openapi.json, the OpenAPI 3.0 description of the
Clarity eCommerce (CEF 2021.4) admin API routes the integration uses.

Inputs: source/routes.txt (copy of the reference route list) and the models below, written from
the facts listed in SOURCES.md (clarity-facts.md and the CEF interface source).  What is a
recorded fact and what is a design guess is said in SOURCES.md, and in the document itself: every
schema and property that is a guess carries "x-design-guess": true.

Conventions a loader can rely on (see SOURCES.md):
  - money and quantities: {"type": "number", "format": "decimal"}; ids: integer int32;
  - dates: string date-time;
  - entity sets: the GET list route /Module/Xs answers with XPagedResults whose Results items
    are X; the operation also carries "x-entity-set": "Xs" and "x-entity-type": "X";
  - every operation carries "x-route": the line of routes.txt it comes from.
Deterministic: python3 specs/clarity/gen_openapi.py [OUT] (default openapi.json next to it).
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = "/DesktopModules/ClarityEcommerce/API-Admin"

# ---- property helpers ------------------------------------------------------------------------


def ref(name):
    return {"$ref": "#/components/schemas/" + name}


def s(desc=None, **kw):
    d = {"type": "string"}
    d.update(kw)
    if desc:
        d["description"] = desc
    return d


def i32(desc=None):
    d = {"type": "integer", "format": "int32"}
    if desc:
        d["description"] = desc
    return d


def i64(desc=None):
    d = {"type": "integer", "format": "int64"}
    if desc:
        d["description"] = desc
    return d


def dec(desc=None):
    d = {"type": "number", "format": "decimal"}
    if desc:
        d["description"] = desc
    return d


def bool_(desc=None):
    d = {"type": "boolean"}
    if desc:
        d["description"] = desc
    return d


def dt(desc=None):
    d = {"type": "string", "format": "date-time"}
    if desc:
        d["description"] = desc
    return d


def arr(item, desc=None):
    d = {"type": "array", "items": item}
    if desc:
        d["description"] = desc
    return d


def guess(d):
    d = dict(d)
    d["x-design-guess"] = True
    return d


def obj(props, required=None, desc=None, design_guess=False):
    d = {"type": "object"}
    if desc:
        d["description"] = desc
    if required:
        d["required"] = required
    d["properties"] = props
    if design_guess:
        d["x-design-guess"] = True
    return d


# Fields every CEF entity model carries: BaseModel / IBaseModel of the CEF source (ID, CustomKey
# "max 128 characters", Active, CreatedDate, UpdatedDate, Hash long?, SerializableAttributes).
BASE_FIELDS = [
    ("ID", i32("identity assigned by CEF; required on Update, blank or 0 on Create")),
    ("CustomKey", s("the ERP integration key, max 128 characters; unique among active rows",
                    maxLength=128)),
    ("Active", bool_("false once deactivated (soft delete)")),
    ("CreatedDate", dt("set by CEF on create")),
    ("UpdatedDate", dt("set by CEF on update; ModifiedSince filters on UpdatedDate or CreatedDate")),
    ("Hash", i64("client-supplied hash of the record, stored as given (Digest routes)")),
    ("SerializableAttributes", {"type": "object", "additionalProperties": ref("SerializableAttribute"),
                                "description": "extension attributes by name"}),
]
# NameableBaseModel: Name "required, max length 128 characters", Description.
NAME_FIELDS = [("Name", s("max 128 characters", maxLength=128)), ("Description", s())]


def entity(extra, required=None, desc=None, design_guess=False, nameable=False):
    props = dict(BASE_FIELDS)
    if nameable:
        props.update(NAME_FIELDS)
    for name, p in extra:
        props[name] = p
    return obj(props, required=required, desc=desc, design_guess=design_guess)


def related(prefix, with_name=False, with_display=False):
    """CEF sends related records as ID/Key(/Name) triples."""
    out = [(prefix + "ID", i32()), (prefix + "Key", s())]
    if with_name:
        out.append((prefix + "Name", s()))
    if with_display:
        out.append((prefix + "DisplayName", s()))
    return out


def relationship(master_desc, slave_desc):
    """IAmARelationshipTableBaseModel: MasterID/MasterKey, SlaveID/SlaveKey."""
    return [("MasterID", i32(master_desc)), ("MasterKey", s()),
            ("SlaveID", i32(slave_desc)), ("SlaveKey", s())]


TYPED = related("Type", True, True)
STATUSED = related("Status", True, True)
STATED = related("State", True, True)

# SalesCollectionBaseModel: shared by orders, invoices and returns.
SALES_DOC = (
    TYPED + STATUSED + STATED + related("Store", True) + related("Brand", True)
    + [("SessionID", s(format="uuid")),
       ("Totals", ref("Totals")),
       ("OriginalDate", dt()), ("DueDate", dt()),
       ("ShippingSameAsBilling", bool_()), ("BalanceDue", dec()), ("ItemQuantity", dec()),
       ("ShipmentID", i32()), ("ShipmentKey", s())]
    + related("User") + [("UserUserName", s()), ("UserContactEmail", s())]
    + related("Account", True)
    + [("BillingContactID", i32()), ("BillingContactKey", s()), ("BillingContact", ref("Contact")),
       ("ShippingContactID", i32()), ("ShippingContactKey", s()), ("ShippingContact", ref("Contact")),
       ("SalesItems", arr(ref("SalesItem"))),
       ("Discounts", arr(ref("AppliedDiscount"))),
       ("SalesEvents", arr(ref("SalesEvent")))]
)

SCHEMAS = {
    "SerializableAttribute": obj({"ID": i32(), "Key": s(), "Value": s(), "UofM": s(),
                                  "SortOrder": i32()}),
    "Address": entity([("Company", s()), ("Street1", s()), ("Street2", s()), ("Street3", s()),
                       ("City", s()), ("PostalCode", s()),
                       ("Latitude", dec()), ("Longitude", dec()),
                       ("RegionCustom", s()), ("CountryCustom", s())]
                      + related("Region", True) + [("RegionCode", s("state/province code"))]
                      + related("Country", True)
                      + [("CountryCode", s("ISO 3166-1 alpha-2 country code"))]),
    "Contact": entity(TYPED + [("FirstName", s()), ("MiddleName", s()), ("LastName", s()),
                               ("FullName", s()), ("Phone1", s()), ("Phone2", s()), ("Phone3", s()),
                               ("Fax1", s()), ("Email1", s(format="email")), ("Website1", s()),
                               ("SameAsBilling", bool_()), ("Title", s()),
                               ("AddressID", i32()), ("AddressKey", s()),
                               ("Address", ref("Address"))]),
    "Totals": obj({"SubTotal": dec(), "Shipping": dec(), "Handling": dec(), "Fees": dec(),
                   "Discounts": dec(), "Tax": dec(),
                   "Total": dec("computed by CEF from the other values")},
                  desc="CartTotals of a sales document"),
    "AppliedDiscount": entity(
        relationship("the order/line the discount applies to", "the discount")
        + [("SlaveName", s()), ("DiscountTotal", dec()), ("ApplicationsUsed", i32()),
           ("TargetApplicationsUsed", i32())]
        + related("Discount", True)
        + [("DiscountValue", dec()), ("DiscountValueType", i32()), ("DiscountPriority", i32()),
           ("DiscountTypeID", i32()), ("DiscountCanCombine", bool_()),
           ("DiscountIsAutoApplied", bool_())],
        desc="a discount applied to a sales document or a line (IAppliedDiscountBaseModel); "
             "it names the discount, not the code the customer typed"),
    "SalesEvent": entity(TYPED + [("MasterID", i32("the sales document")),
                                  ("OldStateID", i32()), ("NewStateID", i32()),
                                  ("OldStatusID", i32()), ("NewStatusID", i32())],
                         nameable=True, desc="status/state history entry of a sales document"),
    "SalesItem": entity(
        [("MasterID", i32("the sales document the line belongs to")), ("MasterKey", s())]
        + related("Product", True)
        + [("Sku", s()), ("UnitOfMeasure", s()), ("Status", s()),
           ("Quantity", dec()), ("QuantityBackOrdered", dec()), ("QuantityPreSold", dec()),
           ("TotalQuantity", dec("Quantity + QuantityBackOrdered + QuantityPreSold, read-only")),
           ("UnitCorePrice", dec()), ("UnitSoldPrice", dec()),
           ("UnitSoldPriceModifier", dec()), ("UnitSoldPriceModifierMode", i32()),
           ("ExtendedPrice", dec("(UnitSoldPrice or UnitCorePrice) * TotalQuantity, read-only")),
           ("ExtendedShippingAmount", dec()), ("ExtendedTaxAmount", dec()),
           ("RestockingFeeAmount", dec()), ("ForceUniqueLineItemKey", s())]
        + related("OriginalCurrency", True) + related("SellingCurrency", True)
        + [("Discounts", arr(ref("AppliedDiscount")))],
        nameable=True, desc="a line of a sales document (SalesItemBaseModel)"),
    "SalesOrderPayment": entity(
        relationship("the sales order", "the payment") + [("Slave", ref("Payment"))],
        desc="link between a sales order and a payment (ISalesOrderPaymentModel)"),
    "SalesOrder": entity(SALES_DOC + [
        ("TrackingNumber", s()), ("TaxTransactionID", s()), ("PaymentTransactionID", s()),
        ("PurchaseOrderNumber", s()), ("ActualShipDate", dt()), ("OrderApprovedDate", dt()),
        ("OrderCommitmentDate", dt()), ("RequestedShipDate", dt()), ("RequiredShipDate", dt())]
        + related("InventoryLocation", True)
        + [("SalesOrderPayments", arr(ref("SalesOrderPayment")))]),
    "SalesInvoice": entity(SALES_DOC + related("SalesGroup")),
    "SalesReturn": entity(SALES_DOC + [
        ("TrackingNumber", s()), ("PurchaseOrderNumber", s()), ("TaxTransactionID", s()),
        ("RefundTransactionID", s()), ("ActualShipDate", dt()), ("ReturnApprovedDate", dt()),
        ("ReturnCommitmentDate", dt()), ("RequestedShipDate", dt()), ("RequiredShipDate", dt()),
        ("RefundAmount", dec())] + related("SalesGroup")
        + [("SalesOrderIDs", arr(i32(), "orders the goods came from"))]),
    "Payment": entity(TYPED + STATUSED + [
        ("Amount", dec()), ("PaymentData", s()), ("Authorized", bool_()), ("AuthCode", s()),
        ("Received", bool_()), ("StatusDate", dt()), ("AuthDate", dt()), ("ReceivedDate", dt()),
        ("PaymentDate", dt()), ("ReferenceNo", s()), ("Response", s()),
        ("ExternalCustomerID", s()), ("ExternalPaymentID", s()), ("CardTypeID", i32()),
        ("CardMask", s()), ("Last4CardDigits", s()), ("TransactionNumber", s()),
        ("CheckNumber", s()), ("ReferenceName", s()),
        ("BillingContactID", i32()), ("BillingContactKey", s())]
        + related("PaymentMethod", True)
        + [("CurrencyID", i32()), ("CurrencyKey", s()), ("CurrencyName", s())]),
    "Product": entity(TYPED + STATUSED + [
        ("SeoUrl", s()), ("SeoKeywords", s()), ("SeoDescription", s()), ("SeoPageTitle", s()),
        ("SeoMetaData", s()),
        ("IsVisible", bool_()), ("IsDiscontinued", bool_()), ("IsEligibleForReturn", bool_()),
        ("IsTaxable", bool_()), ("AllowBackOrder", bool_()), ("AllowPreSale", bool_()),
        ("IsUnlimitedStock", bool_()), ("IsFreeShipping", bool_()), ("NothingToShip", bool_()),
        ("DropShipOnly", bool_()),
        ("ShortDescription", s()), ("ManufacturerPartNumber", s()), ("BrandName", s()),
        ("UnitOfMeasure", s()), ("TaxCode", s()), ("SortOrder", i32()),
        ("HandlingCharge", dec()), ("FlatShippingCharge", dec()),
        ("AvailableStartDate", dt()), ("AvailableEndDate", dt()),
        ("MinimumPurchaseQuantity", dec()), ("MaximumPurchaseQuantity", dec()),
        ("PriceBase", guess(dec("list price"))), ("PriceSale", guess(dec("sale price"))),
        ("PriceMsrp", guess(dec())),
        ("ProductInventoryLocationSections", arr(ref("ProductInventoryLocationSection")))],
        nameable=True, required=["Name"]),
    "Account": entity(TYPED + STATUSED + [
        ("BusinessType", s()), ("Credit", dec()), ("IsOnHold", bool_()), ("IsTaxable", bool_()),
        ("TaxEntityUseCode", s()), ("TaxExemptionNo", s()), ("SalesmanCode", s())]
        + related("CreditCurrency", True)
        + [("AccountContacts", arr(ref("AccountContact")))],
        nameable=True, required=["Name"], desc="a B2B customer"),
    "AccountContact": entity(relationship("the account", "the contact")
                             + [("Slave", ref("Contact"))],
                             desc="link between an account and a contact (IAccountContactModel)"),
    "User": entity(TYPED + STATUSED + [
        ("UserName", s()), ("Email", s(format="email")), ("EmailConfirmed", bool_()),
        ("PhoneNumber", s()), ("IsApproved", bool_()), ("DisplayName", s()),
        ("IsEmailSubscriber", bool_()), ("TaxExempt", bool_()), ("TaxExemptNumber", s()),
        ("ContactID", i32()), ("ContactKey", s()), ("Contact", ref("Contact"))]
        + related("Account", True) + related("Currency", True) + related("PreferredStore", True)),
    "ProductInventoryLocationSection": entity(
        relationship("the product", "the inventory location section")
        + [("MasterName", s()), ("SlaveName", s()),
           ("Quantity", dec()), ("QuantityAllocated", dec()), ("QuantityPreSold", dec()),
           ("QuantityBroken", dec()), ("FlatQuantity", dec()), ("FlatQuantityAllocated", dec()),
           ("InventoryLocationSectionInventoryLocationID", i32()),
           ("InventoryLocationSectionInventoryLocationKey", s()),
           ("InventoryLocationSectionInventoryLocationName", s())],
        desc="stock of one product in one inventory location section"),
    "CalculatedInventory": obj(
        {"ProductID": i32(), "ProductUOM": s(), "IsDiscontinued": bool_(),
         "IsUnlimitedStock": bool_(), "IsOutOfStock": bool_(),
         "QuantityPresent": dec(), "QuantityAllocated": dec(), "QuantityOnHand": dec(),
         "QuantityPreSellable": dec(), "QuantityPreSold": dec(),
         "AllowBackOrder": bool_(), "AllowPreSale": bool_(), "PreSellEndDate": dt(),
         "MaximumPurchaseQuantity": dec(), "MaximumBackOrderPurchaseQuantity": dec(),
         "RelevantLocations": arr(ref("ProductInventoryLocationSection"))},
        required=["ProductID"],
        desc="stock figures of one product (CalculatedInventory), the element of a bulk update"),
    "BulkUpdateInventoryForProductsRequest": obj(
        {"InventoryToPush": arr(ref("CalculatedInventory"))}, required=["InventoryToPush"],
        desc="body of PUT /Providers/Inventory/BulkUpdateInventoryForProducts"),
    "UpdateInventoryForProductRequest": obj(
        {"ID": i32("the product"), "Quantity": dec(), "QuantityAllocated": dec(),
         "QuantityPreSold": dec(), "RelevantLocationID": i32(), "RelevantHash": i64()},
        required=["ID"], desc="body of PATCH /Providers/Inventory/UpdateInventoryForProduct"),
    "Shipment": entity(STATUSED + [
        ("Reference1", s()), ("Reference2", s()), ("Reference3", s()),
        ("TrackingNumber", s()), ("Destination", s()),
        ("TargetShippingDate", dt()), ("EstimatedDeliveryDate", dt()), ("ShipDate", dt()),
        ("DateDelivered", dt()), ("NegotiatedRate", dec()), ("PublishedRate", dec()),
        ("OriginContactID", i32()), ("OriginContactKey", s()), ("OriginContact", ref("Contact")),
        ("DestinationContactID", i32()), ("DestinationContactKey", s()),
        ("DestinationContact", ref("Contact"))]
        + related("InventoryLocationSection", True) + related("ShipCarrier", True)
        + related("ShipCarrierMethod", True) + related("Vendor", True)
        + [("CarrierName", s()), ("ShipMethod", s()),
           ("SalesOrderIDs", arr(i32())), ("SalesOrderItemIDs", arr(i32()))]),
    "Discount": entity([
        ("CanCombine", bool_()), ("IsAutoApplied", bool_()), ("RoundingOperation", i32()),
        ("UsageLimitPerAccount", i32()), ("UsageLimitPerUser", i32()),
        ("UsageLimitPerCart", i32()), ("UsageLimitGlobally", i32()),
        ("DiscountTypeID", i32()), ("ValueType", i32("percent or amount (CEF enum value)")),
        ("RoundingType", i32()), ("Priority", i32()), ("StartDate", dt()), ("EndDate", dt()),
        ("Value", dec()), ("ThresholdAmount", dec()), ("BuyXValue", dec()), ("GetYValue", dec()),
        ("Codes", arr(ref("DiscountCode"))), ("DiscountTotal", dec())], nameable=True),
    "DiscountCode": entity([("Code", s())] + related("Discount", True) + related("User")),
    "AddPaymentRequest": obj({"SalesOrderID": i32(), "Payment": ref("Payment")},
                             required=["SalesOrderID", "Payment"],
                             desc="body of PATCH /Ordering/SalesOrder/AddPayment",
                             design_guess=True),
    "DigestItem": obj({"ID": i32(), "Key": s("the row's CustomKey"), "Hash": i64()},
                      desc="one row of a Digest route: every active row with a CustomKey"),
    "ActionResponse": obj({"ActionSucceeded": bool_(), "Messages": arr(s()),
                           "Result": i32("id of the created or updated row (Create, Update, "
                                         "Upsert); absent otherwise")},
                          required=["ActionSucceeded"], desc="CEFActionResponse"),
    "ResponseError": obj({"ErrorCode": s(), "FieldName": s(), "Message": s()}),
    "ResponseStatus": obj({"ErrorCode": s(), "Message": s("may start with \"Log ID: ...\""),
                           "StackTrace": s(), "Errors": arr(ref("ResponseError"))}),
    "ErrorResponse": obj({"ResponseStatus": ref("ResponseStatus")}, required=["ResponseStatus"]),
    "AuthenticateRequest": obj({"UserName": s(), "Password": s(format="password")},
                               required=["UserName", "Password"],
                               desc="body of POST /auth/identity (ServiceStack credentials auth)"),
    "AuthenticateResponse": obj({"UserId": s(), "SessionId": s(), "UserName": s(),
                                 "DisplayName": s(), "ResponseStatus": ref("ResponseStatus")},
                                desc="ServiceStack's AuthenticateResponse; the session also comes "
                                     "back as cookies ss-id / ss-pid"),
    "WebhookEvent": obj({"EventType": s("e.g. \"SalesOrder.Created\""), "EventID": s(),
                         "OccurredAt": dt(), "Entity": {"type": "object",
                                                        "description": "the record, as the "
                                                        "entity's GET route returns it"}},
                        required=["EventType", "EventID", "OccurredAt", "Entity"],
                        desc="outbound event POSTed to a subscriber (signed with HMAC-SHA256 over "
                             "timestamp + \".\" + body)", design_guess=True),
}

ENTITIES = [  # (module, entity, plural)
    ("Ordering", "SalesOrder", "SalesOrders"),
    ("Invoicing", "SalesInvoice", "SalesInvoices"),
    ("Returning", "SalesReturn", "SalesReturns"),
    ("Products", "Product", "Products"),
    ("Accounts", "Account", "Accounts"),
    ("Contacts", "Contact", "Contacts"),
    ("Contacts", "User", "Users"),
    ("Shipping", "Shipment", "Shipments"),
    ("Payments", "Payment", "Payments"),
    ("Discounts", "Discount", "Discounts"),
    ("Discounts", "DiscountCode", "DiscountCodes"),
]

for _m, _e, _p in ENTITIES:
    SCHEMAS[_e + "PagedResults"] = obj(
        {"Results": arr(ref(_e)), "TotalCount": i32(), "TotalPages": i32(),
         "CurrentPage": i32("1-based page number"), "CurrentCount": i32()},
        desc="paged search result of %s" % _e)

ENTITY_BY_PATH = {}
for _m, _e, _p in ENTITIES:
    ENTITY_BY_PATH[(_m, _e)] = _e
    ENTITY_BY_PATH[(_m, _p)] = _e

SEARCH_PARAMS = [
    ("Paging.Size", i32("page size; no paging returns every row")),
    ("Paging.StartIndex", i32("1-based PAGE NUMBER, not a row offset")),
    ("ModifiedSince", dt("rows with UpdatedDate or CreatedDate >= this")),
    ("IDs", arr(i32())),
    ("CustomKeys", arr(s())),
    ("Active", bool_()),
    ("noCache", bool_("bypass the server cache")),
]
EXTRA_SEARCH = {
    "SalesOrder": [("StatusKeys", arr(s())), ("AccountKey", s()), ("MinDate", dt()),
                   ("MaxDate", dt())],
    "SalesInvoice": [("StatusKeys", arr(s())), ("AccountKey", s()), ("MinDate", dt()),
                     ("MaxDate", dt())],
    "SalesReturn": [("StatusKeys", arr(s())), ("AccountKey", s()), ("MinDate", dt()),
                    ("MaxDate", dt())],
    "Payment": [("StatusKeys", arr(s())), ("AccountKey", s())],
    "Shipment": [("StatusKeys", arr(s()))],
}

ORDER_ACTIONS = {"Backorder", "CapturePayment", "Complete", "Confirm", "CreatePickTicket",
                 "DropShip", "Hold", "InStock", "NotInStock", "Pending", "ReadyForPickup", "Ship",
                 "SplitSalesOrder", "Void"}


def json_content(schema):
    return {"application/json": {"schema": schema}}


def reply(schema, desc="OK"):
    r = {"200": {"description": desc}}
    if schema is not None:
        r["200"]["content"] = json_content(schema)
    r["default"] = {"description": "error (ServiceStack ResponseStatus); 401 without a "
                    "session, 403 without the route's permission",
                    "content": json_content(ref("ErrorResponse"))}
    return r


def path_params(path):
    params = []
    for name in re.findall(r"\{(\w+)\*?\}", path):
        if name in ("ID", "SalesOrderID"):
            sch = i32()
        elif name == "Guid":
            sch = s(format="uuid")
        else:
            sch = s()
        params.append({"name": name, "in": "path", "required": True, "schema": sch})
    return params


def query(name, sch):
    return {"name": name, "in": "query", "required": False, "schema": sch}


def operation(verb, path, line):
    parts = path.strip("/").split("/")
    module = parts[0]
    ent = ENTITY_BY_PATH.get((module, parts[1])) if len(parts) > 1 else None
    op = {"x-route": line}
    params = path_params(path)
    last = parts[-1]
    if verb == "GET" and len(parts) == 2 and ent and parts[1] != ent:
        # GET /M/Xs: the entity set
        op["summary"] = "search %s (paged)" % parts[1]
        op["x-entity-set"] = parts[1]
        op["x-entity-type"] = ent
        params += [query(n, sc) for n, sc in SEARCH_PARAMS + EXTRA_SEARCH.get(ent, [])]
        op["responses"] = reply(ref(ent + "PagedResults"))
    elif len(parts) == 2 and parts[1].endswith("Digest"):
        op["summary"] = "ID, Key and Hash of every active row with a CustomKey"
        op["responses"] = reply(arr(ref("DigestItem")))
    elif ent and verb == "GET" and len(parts) == 4 and parts[2] in ("ID", "Key"):
        op["summary"] = "one %s by %s" % (ent, parts[2])
        params.append(query("noCache", bool_()))
        op["responses"] = reply(ref(ent))
    elif ent and verb == "GET" and "Exists" in parts[2]:
        op["summary"] = "id of the %s, or null" % ent
        d = i32()
        d["nullable"] = True
        op["responses"] = reply(d)
    elif ent and verb in ("POST", "PUT") and len(parts) == 3 and last in ("Create", "Upsert", "Update"):
        op["summary"] = "%s a %s%s" % (last.lower(), ent,
                                       " (matches on ID, then on an active row's CustomKey)"
                                       if last != "Create" else "")
        op["requestBody"] = {"required": True, "content": json_content(ref(ent))}
        op["responses"] = reply(ref("ActionResponse"))
    elif ent and verb in ("PATCH", "DELETE") and parts[2] in ("Deactivate", "Reactivate", "Delete"):
        op["summary"] = "%s a %s by %s" % (parts[2].lower(), ent, parts[3])
        op["responses"] = reply(ref("ActionResponse"))
    elif module == "Ordering" and verb == "PATCH" and parts[2] in ORDER_ACTIONS:
        op["summary"] = "state change %s of a sales order" % parts[2]
        op["responses"] = reply(ref("ActionResponse"))
    elif module == "Ordering" and verb == "PATCH" and last == "AddPayment":
        op["summary"] = "add a payment to a sales order"
        op["requestBody"] = {"required": True, "content": json_content(ref("AddPaymentRequest"))}
        op["responses"] = reply(ref("ActionResponse"))
    elif path == "/Providers/Inventory/BulkUpdateInventoryForProducts":
        op["summary"] = "set stock figures of many products"
        op["requestBody"] = {"required": True,
                             "content": json_content(ref("BulkUpdateInventoryForProductsRequest"))}
        op["responses"] = reply(ref("ActionResponse"))
    elif path == "/Providers/Inventory/UpdateInventoryForProduct":
        op["summary"] = "set stock figures of one product"
        op["requestBody"] = {"required": True,
                             "content": json_content(ref("UpdateInventoryForProductRequest"))}
        op["responses"] = reply(ref("ActionResponse"))
    else:
        op["summary"] = "route recorded in routes.txt; request and reply shapes not recorded"
        op["x-shape-unknown"] = True
        if verb in ("POST", "PUT", "PATCH"):
            op["requestBody"] = {"required": False, "content": json_content({"type": "object"})}
        op["responses"] = reply({})
    if params:
        op["parameters"] = params
    op["operationId"] = verb.lower() + "_" + re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_")
    return op


def main(argv):
    out = argv[1] if len(argv) > 1 else os.path.join(HERE, "openapi.json")
    paths = {}
    with open(os.path.join(HERE, "source", "routes.txt"), encoding="utf-8") as f:
        lines = [l.rstrip("\n") for l in f if l.strip()]
    for line in lines:
        verbs, raw = line.split(" ", 1)
        path = re.sub(r"\{(\w+)\*\}", r"{\1}", raw)
        for verb in verbs.split(","):
            item = paths.setdefault(path, {})
            if verb.lower() in item:
                raise SystemExit("gen_openapi.py: duplicate route %s %s" % (verb, path))
            item[verb.lower()] = operation(verb, path, line)
    paths["/auth/identity"] = {"post": {
        "x-route": "POST /auth/identity (clarity-facts.md, not in routes.txt)",
        "summary": "log in; returns a ServiceStack session",
        "security": [],
        "requestBody": {"required": True, "content": json_content(ref("AuthenticateRequest"))},
        "responses": reply(ref("AuthenticateResponse")),
        "operationId": "post_auth_identity"}}
    doc = {
        "openapi": "3.0.3",
        "info": {
            "title": "Clarity eCommerce (CEF 2021.4) admin API - the routes the integration uses",
            "version": "2021.4",
            "description": "Written for mapc from the interface of a public CEF deployment; see "
                           "specs/clarity/SOURCES.md for what is recorded fact and what is a design "
                           "guess (marked x-design-guess).  Money and quantities are "
                           "{type: number, format: decimal}.  Replies omit null fields, empty "
                           "strings and empty lists.",
        },
        "servers": [{"url": BASE}],
        "components": {
            "schemas": dict(sorted(SCHEMAS.items())),
            "securitySchemes": {
                "ssSession": {"type": "apiKey", "in": "header", "name": "X-ss-id",
                              "description": "ServiceStack session from POST /auth/identity "
                                             "(cookie ss-id works as well)"},
                "basic": {"type": "http", "scheme": "basic"},
            },
        },
        "security": [{"ssSession": []}, {"basic": []}],
        "paths": dict(sorted(paths.items())),
    }
    text = json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
