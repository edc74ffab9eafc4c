#!/usr/bin/env python3
"""bench/mapping/gen_orders.py N OUT - N realistic Clarity eCommerce sales orders as NDJSON,
deterministically (fixed seed): 1-20 lines each, shipping and billing contacts with addresses
in several countries, coupons (some unknown), totals, fields the mapping does not read."""
import json
import random
import sys

FIRST = ["Ann", "Bob", "Chloé", "Dmitri", "Eve", "Farid", "Grace", "Hiro", "Ines", "Jon"]
LAST = ["Lee", "Smith", "Müller", "Garcia", "Okafor", "Tanaka", "Dubois", "Rossi", "Kowalski"]
CITIES = [("US", "WA", "Seattle", "98101"), ("US", "CA", "San Francisco", "94105"),
          ("CA", "ON", "Ottawa", "K1A 0B1"), ("GB", "ENG", "London", "SW1A 1AA"),
          ("DE", "BY", "München", "80331"), ("FR", "IDF", "Paris", "75001"),
          ("MX", "CMX", "Ciudad de México", "06000"), ("AU", "NSW", "Sydney", "2000"),
          ("NL", "NH", "Amsterdam", "1012")]
COUPONS = ["SUMMER10", "VIP", "WELCOME5", "BLACKFRIDAY", "EXPIRED1"]
STREETS = ["Main St", "Oak Ave", "Hauptstraße", "Rue de Rivoli", "High Street", "Calle 5"]


def money(r, lo, hi):
    return round(r.uniform(lo, hi), 2)


def contact(r, cid):
    country, region, city, postal = r.choice(CITIES)
    street = f"{r.randint(1, 9999)} {r.choice(STREETS)}"
    if r.random() < 0.2:
        street = "  " + street + " "
    return {"ID": cid, "CustomKey": f"CON-{cid}", "FirstName": r.choice(FIRST),
            "LastName": r.choice(LAST), "Email1": f"c{cid}@example.com",
            "Phone1": f"+1-555-{r.randint(1000, 9999)}",
            "Address": {"ID": cid, "Street1": street, "Street2": None, "City": city,
                        "RegionCode": region, "PostalCode": postal, "CountryCode": country,
                        "Latitude": money(r, -60, 60), "Longitude": money(r, -120, 120)}}


def order(r, i):
    oid = 100000 + i
    items = []
    subtotal = 0.0
    for k in range(r.randint(1, 20)):
        qty = r.randint(1, 5) if r.random() < 0.9 else round(r.uniform(0.25, 3), 2)
        price = money(r, 0.5, 500)
        subtotal += qty * price
        item = {"ID": oid * 100 + k, "MasterID": oid, "Sku": f"SKU-{r.randint(1, 5000):05d}",
                "Name": f"Product {r.randint(1, 5000)}", "ProductKey": f"P{r.randint(1, 5000)}",
                "Quantity": qty, "UnitSoldPrice": price, "UnitCorePrice": price,
                "ExtendedPrice": round(qty * price, 2), "Status": "Normal", "Active": True}
        if r.random() < 0.05:
            del item["Quantity"]
        items.append(item)
    discounts = []
    if r.random() < 0.3:
        discounts.append({"ID": oid, "DiscountKey": r.choice(COUPONS), "DiscountTotal": money(r, 1, 50)})
    tax = round(subtotal * 0.08, 2)
    o = {"ID": oid, "CustomKey": f"ORD-{oid}", "Active": True,
         "CreatedDate": f"2026-0{r.randint(1, 9)}-{r.randint(10, 28)}T{r.randint(10, 23)}:15:00Z",
         "StatusKey": r.choice(["NEW", "PAID", "SHIPPED"]), "AccountKey": f"CUST-{r.randint(1, 20000):05d}",
         "UserContactEmail": f"Buyer{r.randint(1, 99999)}@Example.COM",
         "BillingContact": contact(r, oid * 10 + 1), "ShippingContact": contact(r, oid * 10 + 2),
         "Discounts": discounts, "SalesItems": items,
         "Totals": {"SubTotal": round(subtotal, 2), "Tax": tax, "Total": round(subtotal + tax, 2)}}
    if r.random() < 0.5:
        o["PurchaseOrderNumber"] = f"PO-{r.randint(1, 999999)}"
    if r.random() < 0.8:
        o["RequestedShipDate"] = f"2026-{r.randint(10, 12)}-{r.randint(10, 28)}T00:00:00Z"
    return o


def main():
    n = int(sys.argv[1])
    r = random.Random(20260730)
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps(order(r, i), ensure_ascii=False, separators=(",", ":")))
            f.write("\n")


if __name__ == "__main__":
    main()
