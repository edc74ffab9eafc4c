# bench/mapping/orders.jq - bench/mapping/orders.map written for jq: one Clarity order per
# input line -> {"SalesOrderHeadersV2": header, "SalesOrderLines": [lines]}, absent fields
# left out.  iso3 and the coupon table cover what gen_orders.py produces.
def iso3: {"US":"USA","CA":"CAN","GB":"GBR","DE":"DEU","FR":"FRA","MX":"MEX","AU":"AUS","NL":"NLD"}[ascii_upcase];
def coupon: {"SUMMER10":10,"VIP":15.5,"WELCOME5":5,"BLACKFRIDAY":25}[.];
def nonull: with_entries(select(.value != null));
def trim: sub("^\\s+"; "") | sub("\\s+$"; "");
. as $o
| {SalesOrderHeadersV2: ({
     dataAreaId: "usmf",
     SalesOrderNumber: ("WEB-" + ($o.ID | tostring)),
     OrderingCustomerAccountNumber: $o.AccountKey,
     InvoiceCustomerAccountNumber: $o.AccountKey,
     CurrencyCode: "USD",
     CustomersOrderReference: $o.PurchaseOrderNumber,
     Email: (($o.UserContactEmail // "") | ascii_downcase),
     RequestedShippingDate: ((($o.RequestedShipDate // "2026-01-01T00:00:00Z")[0:10]) + "T12:00:00Z"),
     DeliveryAddressName: (($o.ShippingContact.FirstName // "") + " " + ($o.ShippingContact.LastName // "")),
     DeliveryAddressStreet: (($o.ShippingContact.Address.Street1 // "") | trim),
     DeliveryAddressCity: $o.ShippingContact.Address.City,
     DeliveryAddressZipCode: $o.ShippingContact.Address.PostalCode,
     DeliveryAddressCountryRegionId: (($o.ShippingContact.Address.CountryCode // "US") | iso3),
     TotalDiscountPercentage: ((($o.Discounts[0].DiscountKey // "") | coupon) // 0)
   } | nonull),
   SalesOrderLines: [$o.SalesItems[]? | {
     dataAreaId: "usmf",
     SalesOrderNumber: ("WEB-" + (.MasterID | tostring)),
     ItemNumber: .Sku,
     OrderedSalesQuantity: (.Quantity // 1),
     SalesPrice: (.UnitSoldPrice // 0),
     LineDescription: .Name
   } | nonull]}
