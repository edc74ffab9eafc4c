#!/usr/bin/env python3
"""gen_metadata.py - writes specs/d365/metadata.xml, the F&O $metadata of the entities mapc's
flows use, from the real material copied into specs/d365/source/:

  source/fields/*.tsv            property lists (name, type, nullability, key, navigation names)
                                 of the entity sets, cut from clients generated from real $metadata
  source/excerpts/*.xml          real $metadata excerpts: the full definitions of CustomerV3 and
                                 PackingSlipTrackingInformation, real enum types, the Core.V1 schema
  source/enums_public.tsv        enums used by the field lists but absent from every excerpt
  source/inferred_annotations.tsv  write-rule annotations of entities without an excerpt
  source/navigation.tsv          navigation properties between the types defined here

The output has the shape of a real F&O document: UTF-8 BOM, edmx:Edmx 4.0, schema
Microsoft.Dynamics.DataEntities (entity types, enum types, EntityContainer "Resources") and schema
Microsoft.Dynamics.OData.Core.V1 (EnumType AXType only).  Deterministic: the same sources always
give the same bytes.  Usage: python3 specs/d365/gen_metadata.py [OUT]   (default: metadata.xml
next to this script).  Fails (exit 1, message on stderr) when the sources disagree with each other.
"""
import ast
import glob
import os
import re
import sys
from xml.sax.saxutils import quoteattr

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "source")
NS = "Microsoft.Dynamics.DataEntities"
CORE = "Microsoft.Dynamics.OData.Core.V1"

# entity set -> (entity type, field list or None, excerpt holding the full definition or None)
# Order: the sets the six flows use first, then the other versions the field lists give.
ENTITIES = [
    ("SalesOrderHeadersV2", "SalesOrderHeaderV2", "SalesOrderHeadersV2.tsv", None),
    ("SalesOrderLines", "SalesOrderLine", "SalesOrderLines.tsv", None),
    ("ReleasedProductsV2", "ReleasedProductV2", "ReleasedProductsV2.tsv", None),
    ("CustomersV3", "CustomerV3", "CustomersV3.tsv", "customer_v3_excerpt.xml"),
    ("WarehousesOnHandV2", "WarehouseOnHandV2", "WarehousesOnHandV2.tsv", None),
    ("CustomerPaymentJournalHeaders", "CustomerPaymentJournalHeader",
     "CustomerPaymentJournalHeaders.tsv", None),
    ("CustomerPaymentJournalLines", "CustomerPaymentJournalLine",
     "CustomerPaymentJournalLines.tsv", None),
    ("SalesInvoiceHeadersV2", "SalesInvoiceHeaderV2", "SalesInvoiceHeadersV2.tsv", None),
    ("SalesInvoiceV2Lines", "SalesInvoiceV2Line", "SalesInvoiceV2Lines.tsv", None),
    ("PackingSlipTrackingInformation", "PackingSlipTrackingInformation", None,
     "scm_inventory_trimmed_metadata.xml"),
    ("ReturnOrderHeadersV2", "ReturnOrderHeaderV2", "ReturnOrderHeadersV2.tsv", None),
    ("ReturnOrderLinesV2", "ReturnOrderLineV2", "ReturnOrderLinesV2.tsv", None),
    ("SalesOrderHeadersV3", "SalesOrderHeaderV3", "SalesOrderHeadersV3.tsv", None),
    ("SalesOrderHeadersV4", "SalesOrderHeaderV4", "SalesOrderHeadersV4.tsv", None),
    ("SalesOrderLinesV3", "SalesOrderLineV3", "SalesOrderLinesV3.tsv", None),
    ("SalesInvoiceHeadersV4", "SalesInvoiceHeaderV4", "SalesInvoiceHeadersV4.tsv", None),
    ("SalesInvoiceLines", "SalesInvoiceLine", "SalesInvoiceLines.tsv", None),
    ("SalesInvoiceV3Lines", "SalesInvoiceV3Line", "SalesInvoiceV3Lines.tsv", None),
    ("SalesInvoiceV4Lines", "SalesInvoiceV4Line", "SalesInvoiceV4Lines.tsv", None),
    ("WarehousesOnHand", "WarehouseOnHand", "WarehousesOnHand.tsv", None),
    ("InventorySitesOnHand", "InventorySiteOnHand", "InventorySitesOnHand.tsv", None),
    ("InventorySitesOnHandV2", "InventorySiteOnHandV2", "InventorySitesOnHandV2.tsv", None),
]

# Entity set of the one deliberately dangling navigation target (see source/navigation.tsv).
DANGLING_SETS = {"DimensionSet": "DimensionSets"}

# Order in which real documents write property annotations (measured over every excerpt).
TERM_ORDER = ["LabelId", "CountryRegionCodes", "ConfigurationKeyEnabled", "AllowEdit",
              "AllowEditOnCreate", "HelpTextId", "IsRequired", "AXType"]


class SourceError(Exception):
    pass


def norm(name):
    """The SAP SDK field lists spell enum names without '_' and with acronyms in PascalCase
    (EFDocPresenceType_BR -> EfDocPresenceTypeBr); compare names that way."""
    return name.replace("_", "").lower()


def read_tsv(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            rows.append(line.split("\t"))
    return rows


def read_field_list(name):
    path = os.path.join(SRC, "fields", name)
    with open(path, encoding="utf-8") as f:
        header = f.readline()
    m = re.match(r"# EntitySet (\w+); keys=(\[.*?\]); navigation=(\[.*\])\s*$", header)
    if not m:
        raise SourceError("%s: unexpected header" % path)
    keys = ast.literal_eval(m.group(2))
    nav = [n for _, n in ast.literal_eval(m.group(3))]
    props = []
    for row in read_tsv(path):
        if len(row) != 3 or row[2] not in ("Nullable", "NotNull"):
            raise SourceError("%s: bad row %r" % (path, row))
        props.append((row[0], row[1], row[2] == "NotNull"))
    return m.group(1), keys, nav, props


def load_excerpts():
    """Raw text of every excerpt, in name order (the first definition of a name wins; the
    excerpts never disagree, which tests/specs checks)."""
    texts = []
    for path in sorted(glob.glob(os.path.join(SRC, "excerpts", "*.xml"))):
        with open(path, encoding="utf-8-sig") as f:
            texts.append((os.path.basename(path), f.read()))
    return texts


def excerpt_enums(texts):
    enums = {}
    for _, text in texts:
        for m in re.finditer(r'      <EnumType Name="([^"]+)">\n.*?</EnumType>\n', text, re.S):
            enums.setdefault(m.group(1), m.group(0))
    return enums


def excerpt_entity(texts, file_name, type_name):
    for name, text in texts:
        if name != file_name:
            continue
        m = re.search(r'      <EntityType Name="%s">\n.*?      </EntityType>\n' % re.escape(type_name),
                      text, re.S)
        if m:
            return m.group(0)
    raise SourceError("%s: no EntityType %s" % (file_name, type_name))


def core_schema(texts):
    for _, text in texts:
        m = re.search(r'    <Schema Namespace="%s".*?    </Schema>\n' % re.escape(CORE), text, re.S)
        if m:
            return m.group(0)
    raise SourceError("no %s schema in the excerpts" % CORE)


def ax_type(name, edm):
    """The AXType annotation a real document gives a property of this Edm type.  Dates: F&O
    writes both dates and date-times as Edm.DateTimeOffset and tells them apart with AXType;
    in every excerpt the UtcDateTime ones are named *DateTime* or *ValidFrom/*ValidTo."""
    if edm == "Edm.String":
        return "String"
    if edm == "Edm.Decimal":
        return "Real"
    if edm == "Edm.Int32":
        return "Int32"
    if edm == "Edm.Int64":
        return "Int64"
    if edm == "Edm.Guid":
        return "Guid"
    if edm == "Edm.Binary":
        return "Container"
    if edm == "Edm.DateTimeOffset":
        if "DateTime" in name or name.endswith("ValidFrom") or name.endswith("ValidTo"):
            return "UtcDateTime"
        return "Date"
    if edm.startswith(NS + "."):
        return "Enum"
    raise SourceError("no AXType for %s %s" % (name, edm))


def annotation(term, value):
    if term == "AXType":
        return ('          <Annotation Term="%s.AXType">\n'
                '            <EnumMember>%s.AXType/%s</EnumMember>\n'
                '          </Annotation>\n' % (CORE, CORE, value))
    if value in ("true", "false"):
        return '          <Annotation Term="%s.%s" Bool="%s" />\n' % (CORE, term, value)
    return '          <Annotation Term="%s.%s" String=%s />\n' % (CORE, term, quoteattr(value))


def main(argv):
    out_path = argv[1] if len(argv) > 1 else os.path.join(HERE, "metadata.xml")
    texts = load_excerpts()
    real_enums = excerpt_enums(texts)
    real_by_norm = {norm(n): n for n in real_enums}

    public = {}   # tsv enum name -> (real name, [(member, value)])
    for row in read_tsv(os.path.join(SRC, "enums_public.tsv")):
        tsv_name, real, member, value, _source = row
        entry = public.setdefault(tsv_name, (real, []))
        if entry[0] != real:
            raise SourceError("enums_public.tsv: %s has two real names" % tsv_name)
        entry[1].append((member, int(value)))

    def real_enum_name(tsv_name):
        if norm(tsv_name) in real_by_norm:
            return real_by_norm[norm(tsv_name)]
        if tsv_name in public:
            return public[tsv_name][0]
        raise SourceError("enum %s is defined nowhere" % tsv_name)

    inferred = {}
    for row in read_tsv(os.path.join(SRC, "inferred_annotations.tsv")):
        inferred.setdefault((row[0], row[1]), []).append((row[2], row[3]))

    navs = {}
    for row in read_tsv(os.path.join(SRC, "navigation.tsv")):
        row += [""] * (6 - len(row))
        navs.setdefault(row[0], []).append(row)

    type_names = {t for _, t, _, _ in ENTITIES}
    set_of_type = {t: s for s, t, _, _ in ENTITIES}
    set_of_type.update(DANGLING_SETS)

    body = []            # the Microsoft.Dynamics.DataEntities schema, element by element
    emitted_enums = set()
    bindings = {}
    used_inferred = set()

    for set_name, type_name, tsv, excerpt in ENTITIES:
        enum_refs = []
        if excerpt:
            text = excerpt_entity(texts, excerpt, type_name)
            enum_refs = re.findall(r'<Property Name="[^"]+" Type="%s\.([^"]+)"' % re.escape(NS), text)
            if tsv:
                tsv_set, keys, _, props = read_field_list(tsv)
                got = re.findall(r'<Property Name="([^"]+)" Type="([^"]+)"( Nullable="false")?', text)
                if len(got) != len(props):
                    raise SourceError("%s: %d properties, %s has %d" % (type_name, len(got), tsv, len(props)))
                for (n, t, nn), (pn, pt, pnn) in zip(got, props):
                    if n != pn or norm(t) != norm(pt) or bool(nn) != pnn:
                        raise SourceError("%s.%s: excerpt and %s disagree" % (type_name, n, tsv))
            if navs.get(type_name):
                raise SourceError("%s: navigation into a verbatim excerpt is not supported" % type_name)
            body.append(text)
        else:
            tsv_set, keys, nav_names, props = read_field_list(tsv)
            if tsv_set != set_name:
                raise SourceError("%s names set %s, expected %s" % (tsv, tsv_set, set_name))
            names = [p[0] for p in props]
            lines = ['      <EntityType Name="%s">\n' % type_name]
            if keys:
                lines.append("        <Key>\n")
                for k in keys:
                    if k not in names:
                        raise SourceError("%s: key %s is not a property" % (type_name, k))
                    lines.append('          <PropertyRef Name="%s" />\n' % k)
                lines.append("        </Key>\n")
            for name, edm, not_null in props:
                if edm.startswith(NS + "."):
                    real = real_enum_name(edm[len(NS) + 1:])
                    enum_refs.append(real)
                    edm_out = NS + "." + real
                else:
                    edm_out = edm
                attrs = ' Nullable="false"' if not_null else ""
                terms = dict(inferred.get((type_name, name), []))
                if (type_name, name) in inferred:
                    used_inferred.add((type_name, name))
                terms["AXType"] = ax_type(name, edm)
                lines.append('        <Property Name="%s" Type="%s"%s>\n' % (name, edm_out, attrs))
                for term in TERM_ORDER:
                    if term in terms:
                        lines.append(annotation(term, terms[term]))
                extra = set(terms) - set(TERM_ORDER)
                if extra:
                    raise SourceError("%s.%s: unknown terms %s" % (type_name, name, sorted(extra)))
                lines.append("        </Property>\n")
            for nav in navs.get(type_name, []):
                _, nav_name, target, coll, partner, constraints = nav
                if nav_name not in nav_names:
                    raise SourceError("%s: navigation %s is not in %s" % (type_name, nav_name, tsv))
                ttype = "%s.%s" % (NS, target)
                if coll == "1":
                    ttype = "Collection(%s)" % ttype
                partner_attr = ' Partner="%s"' % partner if partner else ""
                cons = [c.split("=") for c in constraints.split(",") if c]
                if cons:
                    lines.append('        <NavigationProperty Name="%s" Type="%s"%s>\n'
                                 % (nav_name, ttype, partner_attr))
                    for prop, ref in cons:
                        if prop not in names:
                            raise SourceError("%s.%s: constraint on unknown %s" % (type_name, nav_name, prop))
                        lines.append('          <ReferentialConstraint Property="%s" ReferencedProperty="%s" />\n'
                                     % (prop, ref))
                    lines.append("        </NavigationProperty>\n")
                else:
                    lines.append('        <NavigationProperty Name="%s" Type="%s"%s />\n'
                                 % (nav_name, ttype, partner_attr))
                bindings.setdefault(set_name, []).append((nav_name, set_of_type[target]))
            if (type_name, "*") in inferred:
                used_inferred.add((type_name, "*"))
                for term, value in inferred[(type_name, "*")]:
                    lines.append('        <Annotation Term="%s.%s" Bool="%s" />\n' % (CORE, term, value))
            lines.append("      </EntityType>\n")
            body.append("".join(lines))
        # Real documents interleave enum types with entity types: write each enum after the
        # first entity type that uses it.
        for real in enum_refs:
            if real in emitted_enums:
                continue
            emitted_enums.add(real)
            if real in real_enums:
                body.append(real_enums[real])
            else:
                tsv_name = [k for k, v in public.items() if v[0] == real][0]
                lines = ['      <EnumType Name="%s">\n' % real]
                for member, value in public[tsv_name][1]:
                    lines.append('        <Member Name="%s" Value="%d" />\n' % (member, value))
                lines.append("      </EnumType>\n")
                body.append("".join(lines))

    unused = set(inferred) - used_inferred
    if unused:
        raise SourceError("inferred_annotations.tsv: unused rows %s" % sorted(unused))
    for type_name in navs:
        if type_name not in type_names:
            raise SourceError("navigation.tsv: unknown type %s" % type_name)

    container = ['      <EntityContainer Name="Resources">\n']
    for set_name, type_name, _, _ in ENTITIES:
        b = bindings.get(set_name)
        if not b:
            container.append('        <EntitySet Name="%s" EntityType="%s.%s" />\n' % (set_name, NS, type_name))
            continue
        container.append('        <EntitySet Name="%s" EntityType="%s.%s">\n' % (set_name, NS, type_name))
        for path, target in b:
            container.append('          <NavigationPropertyBinding Path="%s" Target="%s" />\n' % (path, target))
        container.append("        </EntitySet>\n")
    container.append("      </EntityContainer>\n")

    doc = ("\ufeff"
           '<?xml version="1.0" encoding="utf-8"?>\n'
           '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">\n'
           "  <edmx:DataServices>\n"
           '    <Schema Namespace="%s" xmlns="http://docs.oasis-open.org/odata/ns/edm">\n' % NS
           + "".join(body) + "".join(container)
           + "    </Schema>\n"
           + core_schema(texts)
           + "  </edmx:DataServices>\n"
           "</edmx:Edmx>")
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(doc)
    os.replace(tmp, out_path)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (SourceError, OSError) as e:
        sys.stderr.write("gen_metadata.py: %s\n" % e)
        sys.exit(1)
