#!/usr/bin/env bash
# bench/mapping/gen_lines.sh MAPC - how much C mapc generates: for the examples/ files, and
# for one map against ten maps over the same two full entity types (SalesOrder has 63
# properties, SalesOrderHeaderV2 168), to show the output grows with what the maps use and
# not with the size of the schema.
set -eu
mapc=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gen-lines.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$top/examples" && "$mapc" gen -o "$tmp/examples" $(ls *.map))
for f in "$tmp"/examples/*; do printf 'examples %s: %d\n' "$(basename "$f")" "$(wc -l <"$f")"; done
printf 'examples total: %d\n' "$(cat "$tmp"/examples/* | wc -l)"
fields=(CustomersOrderReference Email LanguageId DeliveryAddressCity DeliveryAddressName
        DeliveryAddressStreet DeliveryAddressZipCode DeliveryAddressStateId QuotationNumber
        BaseDocumentNumber)
sources=(CustomKey UserContactEmail StatusKey TypeKey AccountName PurchaseOrderNumber
         AccountKey StoreKey BrandKey ShipmentKey)
for count in 1 10; do
  {
    printf 'schema d365 = odata "%s/specs/d365/metadata.xml"\n' "$top"
    printf 'schema clarity = openapi "%s/specs/clarity/openapi.json"\n' "$top"
    for ((i = 0; i < count; i++)); do
      printf 'map M%d from clarity.SalesOrder as o to d365.SalesOrderHeaderV2 update {\n' "$i"
      printf '    dataAreaId = "usmf"\n    SalesOrderNumber = "WEB-" ++ text(o.ID)\n'
      printf '    %s = upper(o.%s ?? "")\n}\n' "${fields[$i]}" "${sources[$i]}"
    done
  } >"$tmp/m$count.map"
  "$mapc" gen -o "$tmp/out$count" "$tmp/m$count.map"
  printf '%d map%s: %d lines\n' "$count" "$([ "$count" -gt 1 ] && echo s || true)" "$(cat "$tmp/out$count"/* | wc -l)"
done
