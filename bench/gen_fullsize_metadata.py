#!/usr/bin/env python3
"""gen_fullsize_metadata.py - writes a full-size synthetic D365 F&O $metadata for the compile
benchmark, built from real definitions only:

  - one EntityType for each of the 3,868 entity type names of a real environment
    (bench/data/entity_list.txt, a copy of the reference list);
  - a name that specs/d365/metadata.xml defines (SalesOrderHeaderV2, SalesOrderLine, CustomerV3,
    ...) gets that definition verbatim, navigation included; a name defined by a real excerpt
    (specs/d365/source/excerpts/*.xml) gets the excerpt's definition verbatim;
  - every other name takes the property list (keys and annotations included) of a real entity
    type of those two sources, cycled deterministically and renamed; navigation properties are
    dropped from these copies (their partners would not point back); the two names d365-facts.md
    lists as keyless (Certification, CashControlConfiguration) lose their Key;
  - every real enum type of those sources under its own name, plus renamed clones ("<Name>_<k>")
    of the ones the copied property lists use, up to ENUM_TARGET enum types; the renamed entity
    copies refer to the clones (round-robin over each enum's variants);
  - an EntitySet for every entity type (real set names where the sources give them, otherwise
    the F&O plural: CustomerV3 -> CustomersV3), EntityContainer "Resources";
  - UTF-8 BOM, schema Microsoft.Dynamics.DataEntities then Microsoft.Dynamics.OData.Core.V1
    (AXType), enum types interleaved with entity types, as real documents have them.

Deterministic (same inputs, same bytes).  Usage: python3 bench/gen_fullsize_metadata.py OUT.xml
Prints one summary line (bytes, counts, seconds) on stdout.
"""
import glob
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
NS = "Microsoft.Dynamics.DataEntities"
ENUM_TARGET = 2000
# Entity types larger than this are only used under their own names: cycling them would make
# the document several times the size of a real one (real: ~8 KB per entity type on average).
MAX_TEMPLATE_BYTES = 60000

# Real F&O documents have entity types without a key; d365-facts.md names these two.
KEYLESS = {"Certification", "CashControlConfiguration"}

KEY_RE = re.compile(r'        <Key>\n.*?        </Key>\n', re.S)
ENTITY_RE = re.compile(r'      <EntityType Name="([^"]+)">\n.*?      </EntityType>\n', re.S)
ENUM_RE = re.compile(r'      <EnumType Name="([^"]+)">\n.*?</EnumType>\n', re.S)
SET_RE = re.compile(r'        <EntitySet Name="([^"]+)" EntityType="%s\.([^"]+)"(?: />\n|>\n.*?        </EntitySet>\n)'
                    % re.escape(NS), re.S)
NAV_RE = re.compile(r'        <NavigationProperty [^>]*?(?:/>\n|>\n.*?        </NavigationProperty>\n)', re.S)
ENUM_REF_RE = re.compile(r'(<Property Name="[^"]+" Type="%s\.)([^"]+)(")' % re.escape(NS))


def read(path):
    with open(path, encoding="utf-8-sig") as f:
        return f.read()


def plural(type_name):
    """The usual F&O entity set name of an entity type: CustomerV3 -> CustomersV3."""
    m = re.match(r"^(.*?)(V\d+)?$", type_name)
    base, ver = m.group(1), m.group(2) or ""
    if re.search(r"[^aeiou]y$", base):
        base = base[:-1] + "ies"
    elif re.search(r"(s|x|ch|sh)$", base):
        base += "es"
    else:
        base += "s"
    return base + ver


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: gen_fullsize_metadata.py OUT.xml\n")
        return 2
    start = time.time()
    out_path = argv[1]
    with open(os.path.join(HERE, "data", "entity_list.txt"), encoding="utf-8") as f:
        names = [l.strip() for l in f if l.strip()]
    if len(set(names)) != len(names):
        sys.stderr.write("gen_fullsize_metadata.py: duplicate names in entity_list.txt\n")
        return 1

    spec_text = read(os.path.join(TOP, "specs", "d365", "metadata.xml"))
    excerpts = [read(p) for p in sorted(glob.glob(os.path.join(TOP, "specs", "d365", "source",
                                                               "excerpts", "*.xml")))]
    # Real definitions: specs/d365/metadata.xml first (it is what mapc's maps are checked
    # against), then the excerpts in name order.  First definition of a name wins.
    verbatim = {}      # type name -> (definition text, from specs?)
    real_sets = {}     # type name -> EntitySet element text (specs) or set name (excerpts)
    enums = {}         # enum name -> definition text
    for i, text in enumerate([spec_text] + excerpts):
        for m in ENTITY_RE.finditer(text):
            verbatim.setdefault(m.group(1), (m.group(0), i == 0))
        for m in ENUM_RE.finditer(text):
            if m.group(1) != "AXType":
                enums.setdefault(m.group(1), m.group(0))
        for m in SET_RE.finditer(text):
            if m.group(2) not in real_sets:
                real_sets[m.group(2)] = (m.group(1), m.group(0) if i == 0 else None)
    core = re.search(r'    <Schema Namespace="Microsoft\.Dynamics\.OData\.Core\.V1".*?    </Schema>\n',
                     spec_text, re.S).group(0)

    missing = [n for n, (_, from_spec) in verbatim.items() if from_spec and n not in names]
    if missing:
        sys.stderr.write("gen_fullsize_metadata.py: spec types not in entity_list.txt: %s\n" % missing)
        return 1

    # Templates for the renamed copies, without navigation properties.
    templates = [(n, NAV_RE.sub("", t)) for n, (t, _) in sorted(verbatim.items())
                 if len(t) <= MAX_TEMPLATE_BYTES]

    # Enum clones up to ENUM_TARGET, round-robin over the real enums the templates use (name
    # order), so that the renamed entity copies can refer to the clones.
    real_enum_names = sorted(enums)
    variants = {n: [n] for n in real_enum_names}
    enum_defs = [enums[n] for n in real_enum_names]
    used = sorted({m.group(2) for _, tt in templates for m in ENUM_REF_RE.finditer(tt)
                   if m.group(2) in enums})
    k = 0
    while len(enum_defs) < ENUM_TARGET:
        base = used[k % len(used)]
        clone = "%s_%d" % (base, k // len(used) + 1)
        enum_defs.append(enums[base].replace('<EnumType Name="%s">' % base,
                                             '<EnumType Name="%s">' % clone, 1))
        variants[base].append(clone)
        k += 1

    # Entity set names: the sources' names first, then the plural, made unique.
    set_names = {}
    used_sets = set()
    for n in names:
        if n in real_sets and n in verbatim:
            set_names[n] = real_sets[n][0]
            used_sets.add(real_sets[n][0])
    for n in names:
        if n in set_names:
            continue
        s = plural(n)
        while s in used_sets:
            s += "Set"
        set_names[n] = s
        used_sets.add(s)

    body = []
    container = ['      <EntityContainer Name="Resources">\n']
    n_enum = 0
    copies = 0
    turn = {}          # enum name -> how many copied properties referred to it so far
    for idx, n in enumerate(names):
        if n in verbatim:
            text, from_spec = verbatim[n]
            if not from_spec:
                text = NAV_RE.sub("", text)
        else:
            tname, ttext = templates[(idx * 7) % len(templates)]
            text = ttext.replace('<EntityType Name="%s">' % tname, '<EntityType Name="%s">' % n, 1)

            def pick(m):
                v = variants.get(m.group(2))
                if not v:
                    return m.group(0)
                k = turn.get(m.group(2), 0)
                turn[m.group(2)] = k + 1
                return m.group(1) + v[k % len(v)] + m.group(3)
            text = ENUM_REF_RE.sub(pick, text)
            if n in KEYLESS:
                text = KEY_RE.sub("", text, count=1)
            copies += 1
        body.append(text)
        # interleave the enum types evenly between the entity types
        due = (idx + 1) * len(enum_defs) // len(names)
        while n_enum < due:
            body.append(enum_defs[n_enum])
            n_enum += 1
        spec_set = real_sets.get(n, (None, None))[1] if n in verbatim and verbatim[n][1] else None
        if spec_set:
            container.append(spec_set)
        else:
            container.append('        <EntitySet Name="%s" EntityType="%s.%s" />\n' % (set_names[n], NS, n))
    container.append("      </EntityContainer>\n")

    doc = ("\ufeff"
           '<?xml version="1.0" encoding="utf-8"?>\n'
           '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">\n'
           "  <edmx:DataServices>\n"
           '    <Schema Namespace="%s" xmlns="http://docs.oasis-open.org/odata/ns/edm">\n' % NS
           + "".join(body) + "".join(container) + "    </Schema>\n" + core
           + "  </edmx:DataServices>\n</edmx:Edmx>")
    data = doc.encode("utf-8")
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, out_path)
    print("gen_fullsize_metadata.py: %s: %d bytes, %d entity types (%d verbatim, %d renamed copies "
          "of %d real types), %d enum types (%d real), %d entity sets, %.1f s"
          % (out_path, len(data), len(names), len(names) - copies, copies, len(templates),
             len(enum_defs), len(real_enum_names), len(names), time.time() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
