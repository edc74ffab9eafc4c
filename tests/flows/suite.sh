#!/usr/bin/env bash
# tests/flows/suite.sh - the business flows of examples/*.map on real records: starts the sandbox
# on free ports, walks one web order through its life (Clarity order -> F&O order -> payment ->
# packing slip -> invoice -> return), reads each record the flows read from the sandbox (F&O
# rows through OAuth2 + OData, Clarity records with Basic auth), runs every map and flow on it
# with `mapc preview`, and checks the mapped JSON field by field against values this script
# computes itself from the input record.  The mapped records are then written to the sandbox
# (F&O creates, Clarity upserts) to show the target takes them.  Error cases per flow (missing
# required value, bad enum member, failing check) compare the exact error text.  mapc runs
# under $VALGRIND_CMD when set, and so does the compiled preview program
# (MAPC_PREVIEW_WRAPPER).
set -u
cd "${TOP:-$(dirname "$0")/../..}"
TOP=$(pwd)
: "${BUILD:=build}"
MAPC="$(cd "$BUILD" && pwd)/mapc"
SANDBOX="$(cd "$BUILD" && pwd)/sandbox"
n=0; failed=0
ok()   { n=$((n+1)); echo "ok $n - $1"; }
nok()  { n=$((n+1)); failed=$((failed+1)); echo "not ok $n - $1"; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/flows.XXXXXX")
sbpid=""
cleanup() {
  if [ -n "$sbpid" ]; then kill "$sbpid" 2>/dev/null; wait "$sbpid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
cache="$(cd "$BUILD" && pwd)/flows/preview-cache"
mkdir -p "$cache"
export MAPC_PREVIEW_WRAPPER="${VALGRIND_CMD:-}"
NOW=2026-07-30T08:09:10Z

# ---------------------------------------------------------------- the sandbox
for attempt in 1 2 3 4 5; do
  dport=$((20000 + RANDOM % 20000)); cport=$((20000 + RANDOM % 20000))
  [ "$dport" = "$cport" ] && continue
  "$SANDBOX" --d365-port "$dport" --clarity-port "$cport" --metadata "$TOP/specs/d365/metadata.xml" \
    >"$tmp/sandbox.log" 2>&1 &
  sbpid=$!
  up=0
  for _ in $(seq 1 50); do
    kill -0 "$sbpid" 2>/dev/null || break
    if curl -sf "http://127.0.0.1:$dport/_sandbox/health" >/dev/null 2>&1 &&
       curl -s -o /dev/null "http://127.0.0.1:$cport/" 2>/dev/null; then up=1; break; fi
    sleep 0.1
  done
  [ $up -eq 1 ] && break
  kill "$sbpid" 2>/dev/null; wait "$sbpid" 2>/dev/null; sbpid=""
done
if [ -z "$sbpid" ]; then
  nok "sandbox starts"; sed 's/^/# /' "$tmp/sandbox.log"; echo "1..$n"; exit 1
fi
ok "sandbox up (F&O :$dport, Clarity :$cport)"
D="http://127.0.0.1:$dport/data"
C="http://127.0.0.1:$cport/DesktopModules/ClarityEcommerce/API-Admin"
TOKEN=$(curl -s -d grant_type=client_credentials -d client_id=sync-client -d client_secret=sync-secret \
  -d "scope=http://127.0.0.1:$dport/.default" "http://127.0.0.1:$dport/sandbox/oauth2/v2.0/token" | jq -r .access_token)
[ -n "$TOKEN" ] && [ "$TOKEN" != null ] && ok "OAuth2 token" || nok "OAuth2 token"

# fetch the first F&O row of a query: d365 QUERY OUT
d365() { curl -s -H "Authorization: Bearer $TOKEN" "$D/$1" | jq -c '.value[0]' >"$2"; [ "$(cat "$2")" != null ]; }
# create an F&O row: d365_post SET JSONFILE (prints the answer)
d365_post() { curl -s -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -d @"$2" "$D/$1"; }
clarity() { curl -s -u admin:admin "$C/$1"; }
clarity_send() { curl -s -u admin:admin -X "$1" -H "Content-Type: application/json" -d @"$3" "$C/$2"; }
control() { curl -s -X POST "http://127.0.0.1:$dport/_sandbox/$1?order=$2&company=usmf"; }

# run a map or flow: pv FILE NAME INPUT  (out in $tmp/out, errors in $tmp/err, status in $rc)
pv() {
  ${VALGRIND_CMD:-} "$MAPC" preview --cache "$cache" --now "$NOW" "examples/$1" "$2" <"$3" >"$tmp/out" 2>"$tmp/err"
  rc=$?
}
# compare $tmp/out with the expected object in $tmp/exp, every field (nested objects whole)
same() {
  jq -rn --slurpfile o "$tmp/out" --slurpfile e "$tmp/exp" '
    ($o[0]) as $o | ($e[0]) as $e |
    ([($e | keys[]) as $k | select($o[$k] != $e[$k]) | "\($k): got \($o[$k] | tojson), want \($e[$k] | tojson)"] +
     [($o | keys[]) as $k | select($e | has($k) | not) | "\($k): not expected (\($o[$k] | tojson))"]) | .[]' >"$tmp/diff" 2>&1
  [ ! -s "$tmp/diff" ]
}
# check_map LABEL FILE NAME INPUT: runs the map, compares with $tmp/exp
check_map() {
  pv "$2" "$3" "$4"
  if [ $rc -eq 0 ] && [ ! -s "$tmp/err" ] && same; then ok "$1: $(jq 'keys | length' "$tmp/exp") fields as expected"
  else nok "$1 (rc=$rc)"; sed 's/^/# /' "$tmp/diff" "$tmp/err" | head -20; fi
}
# check_err LABEL FILE NAME INPUT EXPECTED-STDERR
check_err() {
  pv "$2" "$3" "$4"
  if [ $rc -eq 1 ] && [ ! -s "$tmp/out" ] && [ "$(cat "$tmp/err")" = "$5" ]; then ok "$1: $(head -1 "$tmp/err")"
  else nok "$1 (rc=$rc)"; sed 's/^/# got: /' "$tmp/err" | head -5; printf '%s\n' "$5" | sed 's/^/# want: /'; fi
}
# a value of a CSV lookup table, read here independently of mapc: csv FILE KEY
csv() { awk -F, -v k="$2" 'NR > 1 && $1 == k { print $2 }' "examples/lookups/$1"; }
# jq helpers shared by the expectations: trim, US postal code, date -> F&O noon datetime
JQLIB='def trim: sub("^\\s+"; "") | sub("\\s+$"; "");
       def uszip: gsub("[^0-9]"; "") | if length == 9 then .[0:5] + "-" + .[5:9] else . end;
       def noon: .[0:10] + "T12:00:00Z";'

# ---------------------------------------------------------------- 1. order to cash
cat >"$tmp/order.json" <<'EOF'
{"AccountKey":"US-001","UserContactEmail":"  Hiro.Klein.US-001@Northwind.Example.com ","PurchaseOrderNumber":"PO-4711",
 "BillingContact":{"FirstName":"Hiro","LastName":"Klein","Address":{"Street1":"530 Station Road","City":"Seattle","PostalCode":"98101","CountryCode":"US","RegionCode":"WA"}},
 "ShippingContact":{"FirstName":"Hiro","LastName":"Klein","Address":{"Street1":"  12 Warehouse Row ","City":"Seattle","PostalCode":"981011234","CountryCode":"US","RegionCode":"Washington"}},
 "SalesItems":[{"ProductKey":"A0001","Sku":"A0001","Name":"Basic Headphones","Quantity":2,"UnitSoldPrice":19.99},
               {"ProductKey":"A0001","Sku":"A0001","Name":"Basic Headphones","Quantity":1,"UnitSoldPrice":19.99},
               {"Sku":"C0002","Name":"Cable","Quantity":3,"UnitSoldPrice":4.5}],
 "Discounts":[{"Code":"SAVE10"}],"Totals":{"Shipping":9.95,"Tax":1.23}}
EOF
oid=$(clarity_send POST Ordering/SalesOrder/Create "$tmp/order.json" | jq -r .Result)
clarity "Ordering/SalesOrder/ID/$oid" >"$tmp/so.json"
[ "$(jq -r .ID "$tmp/so.json")" = "$oid" ] && ok "Clarity order $oid created and read" || nok "Clarity order create"

coupon=$(csv coupons.csv "$(jq -r '.Discounts[0].DiscountKey' "$tmp/so.json")")
wh=$(csv warehouses.csv US)
jq --argjson pct "$coupon" --arg wh "$wh" "$JQLIB"'
  { dataAreaId: "usmf", SalesOrderNumber: "WEB-\(.ID)",
    OrderingCustomerAccountNumber: .AccountKey, InvoiceCustomerAccountNumber: .AccountKey,
    CurrencyCode: "USD", CustomersOrderReference: .PurchaseOrderNumber,
    RequestedShippingDate: ((.RequestedShipDate // .CreatedDate) | noon),
    DeliveryAddressName: "\(.ShippingContact.FirstName) \(.ShippingContact.LastName)",
    DeliveryAddressStreet: (.ShippingContact.Address.Street1 | trim),
    DeliveryAddressCity: .ShippingContact.Address.City,
    DeliveryAddressCountryRegionId: ({US: "USA"}[.ShippingContact.Address.CountryCode]),
    DeliveryAddressStateId: ({Washington: "WA"}[.ShippingContact.Address.RegionCode]),
    DeliveryAddressZipCode: (.ShippingContact.Address.PostalCode | uszip),
    DefaultShippingWarehouseId: $wh, TotalDiscountPercentage: $pct,
    OrderHeaderTaxAmount: (.Totals.Tax // 0),
    DeliveryModeCode: (if (.Totals.Shipping // 0) > 0 then "WEB-STD" else "WEB-FREE" end),
    SkipCreateAutoCharges: "No",
    Email: (.UserContactEmail | trim | ascii_downcase) }' "$tmp/so.json" >"$tmp/exp"
check_map "OrderHeader on Clarity order $oid (coupon $coupon%, address normalised)" order_to_cash.map OrderHeader "$tmp/so.json"
jq '.SalesItems[0] | { dataAreaId: "usmf", SalesOrderNumber: "WEB-\(.MasterID)", ItemNumber: .Sku,
    OrderedSalesQuantity: .Quantity, SalesPrice: .UnitSoldPrice, LineDescription: .Name }' "$tmp/so.json" >"$tmp/exp"
jq '.SalesItems[0]' "$tmp/so.json" >"$tmp/item.json"
check_map "OrderLine on its first sales item" order_to_cash.map OrderLine "$tmp/item.json"

pv order_to_cash.map OrderToCash "$tmp/so.json"; cp "$tmp/out" "$tmp/o2c.json"
jq -c '[.SalesItems | group_by([.Sku, .UnitSoldPrice])[] |
        {Sku: .[0].Sku, Quantity: (map(.Quantity) | add), UnitSoldPrice: .[0].UnitSoldPrice}]' "$tmp/so.json" >"$tmp/want_lines"
jq -c '[.SalesOrderLines[] | {Sku: .ItemNumber, Quantity: .OrderedSalesQuantity, UnitSoldPrice: .SalesPrice}]' "$tmp/o2c.json" >"$tmp/got_lines" 2>/dev/null
if [ $rc -eq 0 ] && cmp -s "$tmp/want_lines" "$tmp/got_lines" &&
   [ "$(jq -r '[.SalesOrderLines[].SalesOrderNumber] | unique | .[]' "$tmp/o2c.json")" = "WEB-$oid" ]; then
  ok "OrderToCash: $(jq '.SalesItems | length' "$tmp/so.json") items merged into $(jq '.SalesOrderLines | length' "$tmp/o2c.json") lines by SKU and price"
else nok "OrderToCash lines"; sed 's/^/# /' "$tmp/want_lines" "$tmp/got_lines" "$tmp/err"; fi

# F&O takes the mapped order (header, then lines)
jq '.SalesOrderHeadersV2' "$tmp/o2c.json" >"$tmp/h.json"
so=$(d365_post SalesOrderHeadersV2 "$tmp/h.json" | jq -r .SalesOrderNumber)
lines_ok=1
for i in $(seq 0 $(($(jq '.SalesOrderLines | length' "$tmp/o2c.json") - 1))); do
  jq ".SalesOrderLines[$i]" "$tmp/o2c.json" >"$tmp/l.json"
  [ "$(d365_post SalesOrderLines "$tmp/l.json" | jq -r .InventoryLotId)" != null ] || lines_ok=0
done
[ "$so" = "WEB-$oid" ] && [ $lines_ok -eq 1 ] && ok "F&O created sales order $so and its lines from the mapped records" || nok "F&O order create ($so)"

cp "$tmp/so.json" "$tmp/bad.json"; jq 'del(.AccountKey)' "$tmp/so.json" >"$tmp/bad.json"
check_err "OrderToCash without AccountKey" order_to_cash.map OrderToCash "$tmp/bad.json" \
  '$.AccountKey: required value is missing'
jq '.Totals.Total = "77.30 USD"' "$tmp/so.json" >"$tmp/bad.json"
check_err "OrderToCash with a string total" order_to_cash.map OrderToCash "$tmp/bad.json" \
  '$.Totals.Total: expected number, got string "77.30 USD"'
jq '.SalesItems[2].Quantity = -1' "$tmp/so.json" >"$tmp/bad.json"
check_err "OrderToCash with a negative line quantity" order_to_cash.map OrderToCash "$tmp/bad.json" \
  "SalesOrderLines[1]: OrderLine: check failed: line quantity must be positive"

# the order state back to Clarity: accepted by F&O -> Confirmed
state_check() { # LABEL EXPECTED-STATUS
  d365 "SalesOrderHeadersV2?\$filter=SalesOrderNumber%20eq%20'$so'" "$tmp/soh.json"
  local want
  want=$(jq -r '{None: "Confirmed", Backorder: "Confirmed", Delivered: "Shipped", Invoiced: "Completed", Canceled: "Void"}[.SalesOrderStatus]' "$tmp/soh.json")
  jq --arg st "$want" '{ID: (.SalesOrderNumber | ltrimstr("WEB-") | tonumber), StatusKey: $st}' "$tmp/soh.json" >"$tmp/exp"
  check_map "OrderStateFromSalesOrder: F&O $(jq -r .SalesOrderStatus "$tmp/soh.json") -> $want" shipments.map OrderStateFromSalesOrder "$tmp/soh.json"
  [ "$want" = "$2" ] || nok "$1: expected Clarity state $2, F&O says $(jq -r .SalesOrderStatus "$tmp/soh.json")"
}
state_check "accepted order" Confirmed

# ---------------------------------------------------------------- 5a. payments
jq '{SalesOrderID: (.ID), Payment: {Amount: 20, TransactionNumber: "TX-4711", PaymentMethodKey: "CreditCard", CurrencyKey: "USD"}}' \
  "$tmp/so.json" >"$tmp/pay.json"
clarity_send PATCH Ordering/SalesOrder/AddPayment "$tmp/pay.json" >/dev/null
clarity "Ordering/SalesOrder/ID/$oid" >"$tmp/sop.json"
[ "$(jq '.SalesOrderPayments | length' "$tmp/sop.json")" = 1 ] && ok "Clarity payment added to order $oid" || nok "AddPayment"
check_err "PaymentsToJournal without the payment's customer account" payments.map PaymentsToJournal "$tmp/sop.json" \
  'CustomerPaymentJournalLines[0]: $.Slave.ExternalCustomerID: required value is missing'
# a storefront's payment step fills ExternalCustomerID with the F&O account (the sandbox's traffic
# does; this payment was added without it, so it is set on the fetched record)
jq '.SalesOrderPayments[0].Slave.ExternalCustomerID = .AccountKey' "$tmp/sop.json" >"$tmp/sopx.json"
pv payments.map PaymentsToJournal "$tmp/sopx.json"; cp "$tmp/out" "$tmp/pj.json"
jq '{dataAreaId: "usmf", JournalBatchNumber: "WEBPAY-\(.ID)", JournalName: "CustPay"}' "$tmp/sopx.json" >"$tmp/exp"
jq '.CustomerPaymentJournalHeaders' "$tmp/pj.json" >"$tmp/out"
same && ok "PaymentsToJournal header: journal WEBPAY-$oid" || { nok "PaymentsToJournal header"; sed 's/^/# /' "$tmp/diff"; }
jq "$JQLIB"'.SalesOrderPayments[0] as $p | $p.Slave as $s |
  { dataAreaId: "usmf", JournalBatchNumber: "WEBPAY-\($p.MasterID)", LineNumber: $p.SlaveID,
    AccountType: "Cust", AccountDisplayValue: .AccountKey, OffsetAccountType: "Bank",
    OffsetAccountDisplayValue: "USMF OPER", TransactionDate: ($s.PaymentDate | noon),
    CreditAmount: $s.Amount, DebitAmount: 0, CurrencyCode: $s.CurrencyKey,
    PaymentReference: $s.TransactionNumber, PaymentMethodName: "CARD", IsPrepayment: "Yes",
    TransactionText: "Web payment \($p.SlaveID) for order WEB-\($p.MasterID)" }' "$tmp/sopx.json" >"$tmp/exp"
jq '.CustomerPaymentJournalLines[0]' "$tmp/pj.json" >"$tmp/out"
same && ok "PaymentsToJournal line: customer $(jq -r .AccountKey "$tmp/sopx.json") credited $(jq '.SalesOrderPayments[0].Slave.Amount' "$tmp/sopx.json") against the bank" ||
  { nok "PaymentsToJournal line"; sed 's/^/# /' "$tmp/diff"; }
jq '.CustomerPaymentJournalHeaders' "$tmp/pj.json" >"$tmp/ph.json"; jq '.CustomerPaymentJournalLines[0]' "$tmp/pj.json" >"$tmp/pl.json"
if [ "$(d365_post CustomerPaymentJournalHeaders "$tmp/ph.json" | jq -r .JournalBatchNumber)" = "WEBPAY-$oid" ] &&
   [ "$(d365_post CustomerPaymentJournalLines "$tmp/pl.json" | jq -r '.AccountType + "/" + .OffsetAccountType')" = "Cust/Bank" ]; then
  ok "F&O created the payment journal and its line (AccountType Cust, OffsetAccountType Bank)"
else nok "F&O payment journal create"; fi
jq '.SalesOrderPayments[0].Slave.Amount = 0' "$tmp/sopx.json" >"$tmp/bad.json"
check_err "PaymentsToJournal with a zero payment" payments.map PaymentsToJournal "$tmp/bad.json" \
  "CustomerPaymentJournalLines[0]: PaymentJournalLine: check failed: payment amount must be positive"
# a declined payment is no money: left out of the journal by the line map's where, not an error
jq '.SalesOrderPayments = [.SalesOrderPayments[0] | .SlaveID = 990001 | .Slave.Authorized = false] + .SalesOrderPayments' \
  "$tmp/sopx.json" >"$tmp/dec.json"
pv payments.map PaymentsToJournal "$tmp/dec.json"
if [ $rc -eq 0 ] && [ "$(jq -c '[.CustomerPaymentJournalLines[].LineNumber]' "$tmp/out")" = "[$(jq '.SalesOrderPayments[0].SlaveID' "$tmp/sopx.json")]" ] &&
   [ "$(cat "$tmp/err")" = "CustomerPaymentJournalLines[0]: PaymentJournalLine: filtered: p.Slave.Authorized ?? false" ]; then
  ok "PaymentsToJournal with a declined and an authorised payment: journals the authorised one only"
else nok "PaymentsToJournal declined + authorised (rc=$rc)"; sed 's/^/# /' "$tmp/out" "$tmp/err" | head -5; fi
# an order without an authorised payment is filtered out as a whole: exit 3, nothing mapped
check_filtered() {
  pv "$2" "$3" "$4"
  if [ $rc -eq 3 ] && [ ! -s "$tmp/out" ] && [ "$(cat "$tmp/err")" = "$5" ]; then ok "$1: $(head -1 "$tmp/err")"
  else nok "$1 (rc=$rc)"; sed 's/^/# got: /' "$tmp/err" | head -5; printf '%s\n' "$5" | sed 's/^/# want: /'; fi
}
jq '.SalesOrderPayments[0].Slave.Authorized = false' "$tmp/sopx.json" >"$tmp/bad.json"
check_filtered "PaymentsToJournal with only a declined payment" payments.map PaymentsToJournal "$tmp/bad.json" \
  "PaymentJournal: filtered: any(o.SalesOrderPayments.Slave.Authorized)"
jq '.SalesOrderPayments = []' "$tmp/sopx.json" >"$tmp/bad.json"
check_filtered "PaymentsToJournal on an order without payments" payments.map PaymentsToJournal "$tmp/bad.json" \
  "PaymentJournal: filtered: any(o.SalesOrderPayments.Slave.Authorized)"

# ---------------------------------------------------------------- 4. shipments
ship=$(control ship "$so")
[ "$(echo "$ship" | jq -r .SalesOrderStatus)" = Delivered ] && ok "F&O shipped $so" || nok "ship $so: $ship"
d365 "PackingSlipTrackingInformation?\$filter=SalesOrderNumber%20eq%20'$so'" "$tmp/ps.json"
carrier=$(csv carriers.csv "$(jq -r '.TrackingNumber[0:2]' "$tmp/ps.json")")
jq --arg carrier "$carrier" "$JQLIB"'
  { CustomKey: "\(.dataAreaId)/\(.SalesOrderNumber)/\(.PackingSlipNumber)", TrackingNumber: .TrackingNumber,
    ShipDate: (.DeliveryDate | noon), ShipCarrierKey: $carrier, CarrierName: $carrier, StatusKey: "Shipped",
    Reference1: .SalesOrderNumber, Reference2: .PackingSlipNumber, Reference3: .TrackingURL }' "$tmp/ps.json" >"$tmp/exp"
check_map "ShipmentFromPackingSlip: $(jq -r .TrackingNumber "$tmp/ps.json") by $carrier" shipments.map ShipmentFromPackingSlip "$tmp/ps.json"
cp "$tmp/out" "$tmp/shipment.json"
sid=$(clarity_send POST Shipping/Shipment/Upsert "$tmp/shipment.json" | jq -r .Result)
[ "$(clarity "Shipping/Shipment/ID/$sid" | jq -r .TrackingNumber)" = "$(jq -r .TrackingNumber "$tmp/ps.json")" ] &&
  ok "Clarity upserted shipment $sid with the tracking number" || nok "Clarity shipment upsert ($sid)"
state_check "delivered order" Shipped
jq '.TrackingNumber = "  "' "$tmp/ps.json" >"$tmp/bad.json"
check_err "ShipmentFromPackingSlip with a blank tracking number" shipments.map ShipmentFromPackingSlip "$tmp/bad.json" \
  "ShipmentFromPackingSlip: check failed: packing slip without a tracking number"
jq 'del(.TrackingNumber)' "$tmp/ps.json" >"$tmp/bad.json"
check_err "ShipmentFromPackingSlip without a tracking number" shipments.map ShipmentFromPackingSlip "$tmp/bad.json" \
  '$.TrackingNumber: required field is missing (string)'
jq '.SalesOrderStatus = "Shipped"' "$tmp/soh.json" >"$tmp/bad.json"
check_err "OrderStateFromSalesOrder with a status F&O does not have" shipments.map OrderStateFromSalesOrder "$tmp/bad.json" \
  '$.SalesOrderStatus: "Shipped" is not a member of SalesStatus (None, Backorder, Delivered, Invoiced, Canceled)'
jq '.SalesOrderNumber = "ORDER-77"' "$tmp/soh.json" >"$tmp/bad.json"
check_err "OrderStateFromSalesOrder on an order that is not from the web shop" shipments.map OrderStateFromSalesOrder "$tmp/bad.json" \
  'OrderStateFromSalesOrder.ID: "R-77" is not a number
OrderStateFromSalesOrder: check failed: not a web order (no WEB- prefix)'

# ---------------------------------------------------------------- 5b. invoices
inv=$(control invoice "$so" | jq -r .InvoiceNumber)
d365 "SalesInvoiceHeadersV2?\$filter=InvoiceNumber%20eq%20'$inv'" "$tmp/ih.json" && ok "F&O invoiced $so as $inv" || nok "invoice $so"
# F&O invoices what the storefront charged: goods - coupon + freight (the WEB-STD auto charge) + tax
want=$(jq -c '{total: .Totals.Total, tax: .Totals.Tax, charges: .Totals.Shipping, discount: .Totals.Discounts}' "$tmp/so.json")
got=$(jq -c '{total: .TotalInvoiceAmount, tax: .TotalTaxAmount, charges: .TotalChargeAmount, discount: .TotalDiscountAmount}' "$tmp/ih.json")
[ "$want" = "$got" ] && ok "invoice $inv: total, tax, freight and discount are the Clarity order's ($got)" ||
  nok "invoice $inv totals: $got, the Clarity order's $want"
jq "$JQLIB"'
  { CustomKey: "\(.dataAreaId)/\(.InvoiceNumber)", AccountKey: .InvoiceCustomerAccountNumber,
    OriginalDate: (.InvoiceDate | noon), DueDate: (.InvoiceDate | noon),
    StatusKey: (if .TotalInvoiceAmount > 0 then "Unpaid" else "Paid" end), BalanceDue: .TotalInvoiceAmount,
    Totals: { SubTotal: ((.TotalInvoiceAmount - .TotalTaxAmount - .TotalChargeAmount + .TotalDiscountAmount) * 100 | round / 100),
              Tax: .TotalTaxAmount, Fees: .TotalChargeAmount, Discounts: .TotalDiscountAmount, Total: .TotalInvoiceAmount },
    BillingContact: { CustomKey: "\(.InvoiceCustomerAccountNumber)-BILLING",
      Address: { Street1: .InvoiceAddressStreet, City: .InvoiceAddressCity, PostalCode: (.InvoiceAddressZipCode | uszip),
                 CountryCode: ({USA: "US"}[.InvoiceAddressCountryRegionId]) } } }' "$tmp/ih.json" >"$tmp/exp"
check_map "InvoiceFromSalesInvoice: $inv, total $(jq .TotalInvoiceAmount "$tmp/ih.json")" invoices.map InvoiceFromSalesInvoice "$tmp/ih.json"
cp "$tmp/out" "$tmp/invoice.json"
iid=$(clarity_send POST Invoicing/SalesInvoice/Upsert "$tmp/invoice.json" | jq -r .Result)
[ "$(clarity "Invoicing/SalesInvoice/ID/$iid" | jq -r .CustomKey)" = "usmf/$inv" ] && ok "Clarity upserted sales invoice $iid" || nok "Clarity invoice upsert ($iid)"
d365 "SalesInvoiceV2Lines?\$filter=InvoiceNumber%20eq%20'$inv'" "$tmp/il.json"
jq '{ CustomKey: "\(.dataAreaId)/\(.InvoiceNumber)/\(.LineCreationSequenceNumber)", Sku: .ProductNumber,
      Name: .ProductName, Description: .ProductDescription, Quantity: .InvoicedQuantity, UnitSoldPrice: .SalesPrice,
      ExtendedPrice: .LineAmount, ExtendedTaxAmount: .LineTotalTaxAmount, UnitOfMeasure: .SalesUnitSymbol,
      SellingCurrencyKey: .CurrencyCode }' "$tmp/il.json" >"$tmp/exp"
check_map "InvoiceItemFromLine: $(jq -r .ProductNumber "$tmp/il.json") x $(jq .InvoicedQuantity "$tmp/il.json")" invoices.map InvoiceItemFromLine "$tmp/il.json"
state_check "invoiced order" Completed
jq '.TotalInvoiceAmount = -5' "$tmp/ih.json" >"$tmp/bad.json"
check_err "InvoiceFromSalesInvoice with a negative total" invoices.map InvoiceFromSalesInvoice "$tmp/bad.json" \
  "InvoiceFromSalesInvoice: check failed: a sales invoice cannot be negative (credit notes go to returns)"
jq '.InvoiceCustomerAccountNumber = null' "$tmp/ih.json" >"$tmp/bad.json"
check_err "InvoiceFromSalesInvoice without the invoice account" invoices.map InvoiceFromSalesInvoice "$tmp/bad.json" \
  '$.InvoiceCustomerAccountNumber: required value is missing'
jq '.CurrencyCode = "EUR"' "$tmp/ih.json" >"$tmp/bad.json"
check_err "InvoiceFromSalesInvoice in EUR" invoices.map InvoiceFromSalesInvoice "$tmp/bad.json" \
  "InvoiceFromSalesInvoice: check failed: only USD invoices are published to the storefront"

# ---------------------------------------------------------------- 6. returns
ret=$(control return "$so" | jq -r .ReturnOrderNumber)
d365 "ReturnOrderHeadersV2?\$filter=ReturnOrderNumber%20eq%20'$ret'" "$tmp/rh.json" && ok "F&O created return order $ret for $so" || nok "return $so"
rma=$(csv rma_status.csv "$(jq -r .ReturnStatus "$tmp/rh.json")")
jq --arg rma "$rma" '
  { CustomKey: "\(.dataAreaId)/\(.ReturnOrderNumber)", AccountKey: .CustomerAccountNumber, PurchaseOrderNumber: .RMANumber,
    StatusKey: $rma, ReturnCommitmentDate: (.ReturnDeadline[0:10] + "T12:00:00Z"), RefundAmount: (0 - .OrderTotalAmount),
    Totals: { Total: .OrderTotalAmount, Tax: .OrderTotalTaxAmount, Discounts: .TotalDiscountAmount, Fees: .OrderTotalChargesAmount },
    SalesGroupKey: .CustomersOrderReference }' "$tmp/rh.json" >"$tmp/exp"
check_map "ReturnFromReturnOrder: $ret, $(jq -r .RMANumber "$tmp/rh.json"), $(jq -r .ReturnStatus "$tmp/rh.json") -> $rma" returns.map ReturnFromReturnOrder "$tmp/rh.json"
cp "$tmp/out" "$tmp/return.json"
rid=$(clarity_send POST Returning/SalesReturn/Upsert "$tmp/return.json" | jq -r .Result)
[ "$(clarity "Returning/SalesReturn/ID/$rid" | jq -r .StatusKey)" = "$rma" ] && ok "Clarity upserted sales return $rid with RMA status $rma" || nok "Clarity return upsert ($rid)"
d365 "ReturnOrderLinesV2?\$filter=ReturnOrderNumber%20eq%20'$ret'" "$tmp/rl.json"
lrma=$(csv rma_status.csv "$(jq -r .ReturnStatus "$tmp/rl.json")")
jq --arg rma "$lrma" '{ CustomKey: "\(.dataAreaId)/\(.ReturnOrderNumber)/\(.ReturnInventoryLotId)", Sku: .ItemNumber,
      Name: .LineDescription, Quantity: (0 - .ReturnSalesQuantity), UnitSoldPrice: .SalesPrice,
      ExtendedPrice: (0 - .LineAmount), UnitOfMeasure: .SalesUnitSymbol, Status: $rma }' "$tmp/rl.json" >"$tmp/exp"
check_map "ReturnItemFromLine: $(jq -r .ReturnStatus "$tmp/rl.json") -> $lrma" returns.map ReturnItemFromLine "$tmp/rl.json"
# every header status goes through the table
bad_st=""
for st in None Created Open Closed Canceled; do
  jq --arg st "$st" '.ReturnStatus = $st' "$tmp/rh.json" >"$tmp/st.json"
  pv returns.map ReturnFromReturnOrder "$tmp/st.json"
  [ -n "$(csv rma_status.csv "$st")" ] && [ "$(jq -r .StatusKey "$tmp/out")" = "$(csv rma_status.csv "$st")" ] || bad_st="$bad_st $st"
done
[ -z "$bad_st" ] && ok "ReturnFromReturnOrder: all 5 ReturnStatusHeader members map to their rma_status.csv key" || nok "RMA status of:$bad_st"
jq '.ReturnStatus = "Lost"' "$tmp/rh.json" >"$tmp/bad.json"
check_err "ReturnFromReturnOrder with a status F&O does not have" returns.map ReturnFromReturnOrder "$tmp/bad.json" \
  '$.ReturnStatus: "Lost" is not a member of ReturnStatusHeader (None, Created, Open, Canceled, Closed)'
jq '.OrderTotalAmount = 5' "$tmp/rh.json" >"$tmp/bad.json"
check_err "ReturnFromReturnOrder with a positive total" returns.map ReturnFromReturnOrder "$tmp/bad.json" \
  "ReturnFromReturnOrder: check failed: a return's total must not be positive"
jq '.RMANumber = ""' "$tmp/rh.json" >"$tmp/bad.json"
check_err "ReturnFromReturnOrder without an RMA number" returns.map ReturnFromReturnOrder "$tmp/bad.json" \
  "ReturnFromReturnOrder: check failed: return order without an RMA number"
jq 'del(.CustomerAccountNumber)' "$tmp/rh.json" >"$tmp/bad.json"
check_err "ReturnFromReturnOrder without the customer" returns.map ReturnFromReturnOrder "$tmp/bad.json" \
  '$.CustomerAccountNumber: required field is missing (string)'
# the table is checked against the enum at compile time: a misspelt key is a mapc check error
sed -e 's/Rma\["Closed"\]/Rma["Closd"]/' -e "s|\"\.\./specs/|\"$TOP/specs/|" -e "s|\"lookups/|\"$TOP/examples/lookups/|" \
  examples/returns.map >"$tmp/bad_returns.map"
${VALGRIND_CMD:-} "$MAPC" check "$tmp/bad_returns.map" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "^$tmp/bad_returns.map:19:54: error: key \"Closd\" is not in table 'Rma'; did you mean 'Closed'?$" "$tmp/err" &&
  ok "a status key missing from rma_status.csv is a compile-time error: $(head -1 "$tmp/err" | sed 's/.*error: //')" ||
  { nok "misspelt table key (rc=$rc)"; sed 's/^/# /' "$tmp/err" | head -5; }

sed -e 's/case "Closed"   =>/case "Close"    =>/' -e "s|\"\.\./specs/|\"$TOP/specs/|" -e "s|\"lookups/|\"$TOP/examples/lookups/|" \
  examples/returns.map >"$tmp/bad_returns.map"
${VALGRIND_CMD:-} "$MAPC" check "$tmp/bad_returns.map" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "^$tmp/bad_returns.map:19:36: error: \"Close\" is not a member of enum ReturnStatusHeader; did you mean 'Closed'?\$" "$tmp/err" &&
  ok "an F&O status the enum does not have is a compile-time error: $(head -1 "$tmp/err" | sed 's/.*error: //')" ||
  { nok "misspelt enum member (rc=$rc)"; sed 's/^/# /' "$tmp/err" | head -5; }

# ---------------------------------------------------------------- 2. products and inventory
d365 "ReleasedProductsV2?\$filter=ItemNumber%20eq%20'A0001'" "$tmp/rp.json"
cat_a=$(csv categories.csv "$(jq -r '.ItemNumber[0:1]' "$tmp/rp.json")")
eur=$(csv rates.csv EUR)
jq --arg cat "$cat_a" --argjson eur "$eur" '
  { CustomKey: .ItemNumber, Name: (.SearchName // .ItemNumber), ManufacturerPartNumber: .ItemNumber,
    PriceBase: .SalesPrice, PriceMsrp: ((.SalesPrice * $eur * 100 | round) / 100), IsDiscontinued: false,
    ShortDescription: ((.SearchName // .ItemNumber)[0:20] | ascii_upcase), SeoKeywords: $cat }' "$tmp/rp.json" >"$tmp/exp"
check_map "Product: $(jq -r .ItemNumber "$tmp/rp.json") in category $cat_a" products.map Product "$tmp/rp.json"
cp "$tmp/out" "$tmp/product.json"
seeded=$(clarity "Products/Product/Key/$(jq -r .ItemNumber "$tmp/rp.json")" | jq -r .ID)
pid=$(clarity_send POST Products/Product/Upsert "$tmp/product.json" | jq -r .Result)
[ -n "$seeded" ] && [ "$seeded" != null ] && [ "$pid" = "$seeded" ] &&
  ok "the product upsert updates the storefront's product $seeded (CustomKey = item number), no duplicate" ||
  nok "product upsert created $pid instead of updating the seeded product '$seeded'"
[ "$(clarity "Products/Product/ID/$pid" | jq -r .SeoKeywords)" = "$cat_a" ] && ok "Clarity upserted product $pid" || nok "Clarity product upsert ($pid)"
# StockToClarity groups the on-hand rows by item (`group by ItemNumber`): the map reads the
# item's rows, every warehouse, as the F&O collection {"value":[...]} and sums them; the
# product's ID is a ref placeholder the engine resolves before sending
curl -s -H "Authorization: Bearer $TOKEN" "$D/WarehousesOnHandV2?\$filter=ItemNumber%20eq%20'A0001'" |
  jq -c '{value}' >"$tmp/oh.json"
jq '{ ProductID: {"$ref": {route: "Products/Products", by: "CustomKey", value: .value[0].ItemNumber, get: "ID"}},
      QuantityOnHand: ([.value[].OnHandQuantity] | add),
      QuantityAllocated: ([.value[].ReservedOnHandQuantity] | add),
      IsOutOfStock: (([.value[].TotalAvailableQuantity] | add) > 0 | not),
      IsUnlimitedStock: false,
      MaximumPurchaseQuantity: (([.value[].AvailableOnHandQuantity] | add) - ([.value[].ReservedOnHandQuantity] | add)) }' \
  "$tmp/oh.json" >"$tmp/exp"
[ "$(jq '.value | length' "$tmp/oh.json")" -ge 2 ] && ok "A0001 has on-hand rows in $(jq '.value | length' "$tmp/oh.json") warehouses" ||
  nok "A0001 on-hand rows: $(head -c 300 "$tmp/oh.json")"
check_map "Stock: $(jq -r '"\(.value[0].ItemNumber), \(.value | length) warehouses: \([.value[].TotalAvailableQuantity] | add) available"' "$tmp/oh.json")" inventory.map Stock "$tmp/oh.json"
jq '.value[0].OnHandQuantity = -100000' "$tmp/oh.json" >"$tmp/bad.json"
check_err "Stock with a negative on-hand quantity over all warehouses" inventory.map Stock "$tmp/bad.json" "Stock: check failed: negative on-hand quantity over all warehouses"
jq '.SalesPrice = "12,50"' "$tmp/rp.json" >"$tmp/bad.json"
check_err "Product with a string price" products.map Product "$tmp/bad.json" '$.SalesPrice: expected number, got string "12,50"'

# ---------------------------------------------------------------- 3. customers both ways
d365 "CustomersV3?\$filter=CustomerAccount%20eq%20'US-001'" "$tmp/cu.json"
jq '{ CustomKey: .CustomerAccount, Name: (.OrganizationName // .CustomerAccount), IsOnHold: (.OnHoldStatus != "No"),
      Credit: .CreditLimit }' "$tmp/cu.json" >"$tmp/exp"
check_map "AccountFromCustomer: F&O $(jq -r .CustomerAccount "$tmp/cu.json")" customers.map AccountFromCustomer "$tmp/cu.json"
jq '.OnHoldStatus = "Blocked"' "$tmp/cu.json" >"$tmp/bad.json"
check_err "AccountFromCustomer with a bad OnHoldStatus" customers.map AccountFromCustomer "$tmp/bad.json" \
  '$.OnHoldStatus: "Blocked" is not a member of CustVendorBlocked (No, Invoice, All, Payment, Requisition, Never, PurchOrder)'

clarity "Accounts/Accounts?Paging.Size=1" | jq '.Results[0]' >"$tmp/acc.json"
grp=$(csv customer_groups.csv "$(jq -r .TypeKey "$tmp/acc.json")")
jq --arg grp "$grp" "$JQLIB"'.AccountContacts[0].Slave as $c |
  { dataAreaId: "usmf", CustomerAccount: .CustomKey, OrganizationName: (.Name | trim), CustomerGroupId: $grp,
    SalesCurrencyCode: .CreditCurrencyKey, PrimaryContactEmail: ($c.Email1 | trim | ascii_downcase),
    PrimaryContactPhone: $c.Phone1, AddressStreet: $c.Address.Street1, AddressCity: $c.Address.City,
    AddressCountryRegionId: ({US: "USA"}[$c.Address.CountryCode]), AddressState: $c.Address.RegionCode,
    AddressZipCode: ($c.Address.PostalCode | uszip),
    CreditLimit: .Credit, OnHoldStatus: (if .IsOnHold then "All" else "No" end) }' "$tmp/acc.json" >"$tmp/exp"
check_map "CustomerFromAccount: Clarity $(jq -r .CustomKey "$tmp/acc.json") with its dedup keys" customers_from_clarity.map CustomerFromAccount "$tmp/acc.json"
# a new storefront account (no CustomKey): deterministic customer account, created in F&O
jq 'del(.CustomKey) | .ID = 9001 | .Name = "  Fabrikam Web Store" | .AccountContacts[0].Slave.Email1 = " Buyer@Fabrikam.Example "' \
  "$tmp/acc.json" >"$tmp/newacc.json"
pv customers_from_clarity.map CustomerFromAccount "$tmp/newacc.json"; cp "$tmp/out" "$tmp/newcust.json"
if [ $rc -eq 0 ] && [ "$(jq -r .CustomerAccount "$tmp/newcust.json")" = "WEB-C9001" ] &&
   [ "$(jq -r .PrimaryContactEmail "$tmp/newcust.json")" = "buyer@fabrikam.example" ] &&
   [ "$(jq -r .OrganizationName "$tmp/newcust.json")" = "Fabrikam Web Store" ] &&
   [ "$(jq -r .AddressZipCode "$tmp/newcust.json")" = "$(jq -r '.AccountContacts[0].Slave.Address.PostalCode' "$tmp/newacc.json")" ]; then
  ok "CustomerFromAccount on a new account: WEB-C9001, e-mail and name+postal dedup keys normalised"
else nok "CustomerFromAccount new account (rc=$rc)"; sed 's/^/# /' "$tmp/newcust.json" "$tmp/err"; fi
[ "$(d365_post CustomersV3 "$tmp/newcust.json" | jq -r .CustomerAccount)" = WEB-C9001 ] && ok "F&O created customer WEB-C9001 from the mapped record" || nok "F&O customer create"
jq '.Name = " "' "$tmp/acc.json" >"$tmp/bad.json"
check_err "CustomerFromAccount with a blank name" customers_from_clarity.map CustomerFromAccount "$tmp/bad.json" \
  "CustomerFromAccount: check failed: an account needs a name"
jq 'del(.Name)' "$tmp/acc.json" >"$tmp/bad.json"
check_err "CustomerFromAccount without a name" customers_from_clarity.map CustomerFromAccount "$tmp/bad.json" \
  '$.Name: required field is missing (string)'
jq '.Credit = -1' "$tmp/acc.json" >"$tmp/bad.json"
check_err "CustomerFromAccount with a negative credit" customers_from_clarity.map CustomerFromAccount "$tmp/bad.json" \
  "CustomerFromAccount: check failed: negative credit limit"
jq '{ dataAreaId: "usmf", CustomerAccount: .CustomKey, CreditLimit: .Credit }' "$tmp/acc.json" >"$tmp/exp"
check_map "CreditLimit: Clarity $(jq -r .CustomKey "$tmp/acc.json")" customers.map CreditLimit "$tmp/acc.json"

clarity "Contacts/Users?Paging.Size=1" | jq '.Results[0] | .Email = "  " + (.Email | ascii_upcase)' >"$tmp/user.json"
jq "$JQLIB"'{ dataAreaId: "usmf", CustomerAccount: .AccountKey, PrimaryContactEmail: (.Email | trim | ascii_downcase) }' "$tmp/user.json" >"$tmp/exp"
check_map "CustomerContactFromUser: $(jq -r .UserName "$tmp/user.json")" customers_from_clarity.map CustomerContactFromUser "$tmp/user.json"
jq 'del(.AccountKey)' "$tmp/user.json" >"$tmp/bad.json"
check_err "CustomerContactFromUser without an account" customers_from_clarity.map CustomerContactFromUser "$tmp/bad.json" \
  '$.AccountKey: required value is missing'

# ---------------------------------------------------------------- the whole program
if ${VALGRIND_CMD:-} "$MAPC" check examples/*.map 2>"$tmp/err"; then ok "mapc check examples/*.map: $(ls examples/*.map | wc -l) files clean"
else nok "mapc check examples"; sed 's/^/# /' "$tmp/err" | head; fi

echo "1..$n"
[ $failed -eq 0 ]
