/* flows.c - the flows and maps built into this sync binary.
 *
 * BRIDGE, to be replaced by descriptors emitted by mapc: the generated code (the headers in generated/)
 * exposes the mappers (<Map>_run) and each flow's <Flow>_run, but not yet the other facts of
 * a `flow` block (triggers, target sets, child collection, changeset, idempotency key, retry
 * policy).  They are copied here by hand from examples/order_to_cash.map and checked against
 * it: if that file's flow block changes, this table must change with it.  Only flows whose
 * target the engine can deliver (F&O creates, children in one changeset) are listed. */
#include "sync.h"

#include "customers.h"
#include "order_to_cash.h"
#include "products.h"

/* examples/order_to_cash.map:
 *   flow OrderToCash {
 *       trigger webhook "SalesOrder.Created"
 *       trigger poll clarity.SalesOrders every 60s since ModifiedSince
 *       write d365.SalesOrderHeadersV2 by OrderHeader
 *         with d365.SalesOrderLines from merge(o.SalesItems, ...) by OrderLine
 *         as one changeset
 *       idempotent by SalesOrderNumber
 *       retry 8 backoff 1s..5m
 *   }
 * SalesOrderHeaderV2's key is (dataAreaId, SalesOrderNumber) in specs/d365/metadata.xml. */
static const syncrt_flow_desc order_to_cash = {
    .name = "OrderToCash",
    .map_version = "order_to_cash.map (mapc 0.1.0)",
    .webhook_event = "SalesOrder.Created",
    .poll_route = "Ordering/SalesOrders",
    .poll_every_ms = 60000,
    .source_id_field = "ID",
    .run = OrderToCash_run,
    .target_set = "SalesOrderHeadersV2",
    .child_set = "SalesOrderLines",
    .one_changeset = 1,
    .key_fields = { "dataAreaId", "SalesOrderNumber", NULL },
    .idempotency_field = "SalesOrderNumber",
    .retry = { 8, 1000, 300000 },
};

const syncrt_flow_desc *const sync_flows[] = { &order_to_cash };
const size_t sync_nflows = sizeof sync_flows / sizeof sync_flows[0];

const syncrt_flow_map sync_maps[] = {
    { "OrderHeader", "order_to_cash.map", OrderHeader_run },
    { "OrderLine", "order_to_cash.map", OrderLine_run },
    { "OrderToCash", "order_to_cash.map", OrderToCash_run },
    { "Product", "products.map", Product_run },
    { "ProductsToClarity", "products.map", ProductsToClarity_run },
    { "AccountFromCustomer", "customers.map", AccountFromCustomer_run },
    { "CreditLimit", "customers.map", CreditLimit_run },
    { "CustomersToClarity", "customers.map", CustomersToClarity_run },
};
const size_t sync_nmaps = sizeof sync_maps / sizeof sync_maps[0];
