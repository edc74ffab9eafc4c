/* csdl.c - the CSDL 4.0 ($metadata, EDMX) loader, on libxml2's streaming xmlTextReader (no
 * DOM of the document is ever built).
 *
 * One pass indexes every type name, entity set and enum (with its members) and materialises
 * the properties of the wanted types only.  Which types are wanted is known up front for type
 * names; entity sets are declared at the END of a document (after the types), so a cheap
 * byte scan for "<EntitySet" elements resolves set names to types before the pass.  When a
 * wanted type references a complex or base type declared earlier than itself, or the scan
 * missed a set, a further pass (materialising only, no indexing) picks up what is missing.
 *
 * F&O annotations read (inline, or in <Annotations Target="NS.Type/Prop"> blocks):
 *   property: ...IsRequired, ...AllowEdit, ...AllowEditOnCreate, Core.Computed,
 *             ...AXType = AXType/Date on a DateTimeOffset (-> SK_DATE, is_date);
 *   entity:   ...IsReadOnly.
 * A term is recognised by its last dotted segment, whatever its namespace or alias; a tag
 * annotation without Bool means true.  Undeclared terms are ignored, as are Actions,
 * Functions, Terms and NavigationPropertyBindings (dangling ones included). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/globals.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlreader.h>

#include "schema_internal.h"

typedef struct csdl_annot {
    const char *type;   /* unqualified target type */
    const char *prop;   /* NULL: annotation of the type */
    char term[32];
    bool value;
    bool ax_date;
} csdl_annot;

typedef struct csdl_ctx {
    schema *s;
    const char *path;        /* file to read, or NULL for the buffer */
    const char *data;
    size_t len;
    const char *file;        /* for errors */
    schema_error *err;
    xmlTextReaderPtr r;
    bool failed;
    bool xml_err;
    int xml_line, xml_col;
    char xml_msg[400];
    bool index_pass;
    bool seen_root;
    char ns[256];
    sch_vec aliases;         /* csdl_alias */
    sch_vec annots;          /* csdl_annot */
    sch_vec typedefs;        /* csdl_typedef */
    sch_map typedef_idx;     /* qualified and unqualified name -> typedefs index */
} csdl_ctx;

typedef struct csdl_alias {
    const char *alias, *ns;
} csdl_alias;

typedef struct csdl_typedef {
    const char *name, *qualified, *underlying;
    int max_length, precision, scale;   /* facets the properties of this type inherit */
} csdl_typedef;

/* ---- small helpers -------------------------------------------------------------------- */

static void csdl_xml_error(void *arg, xmlErrorPtr e)
{
    csdl_ctx *c = arg;
    if (!e || e->level < XML_ERR_ERROR || c->xml_err)
        return;
    c->xml_err = true;
    c->xml_line = e->line;
    c->xml_col = e->int2;
    snprintf(c->xml_msg, sizeof c->xml_msg, "%s",
             e->message && e->message[0] ? e->message : "malformed XML");
    size_t n = strlen(c->xml_msg);
    while (n && (c->xml_msg[n - 1] == '\n' || c->xml_msg[n - 1] == '\r' ||
                 c->xml_msg[n - 1] == ' '))
        c->xml_msg[--n] = '\0';
    for (size_t i = 0; i < n; i++) /* one line: libxml2 puts details on a second one */
        if (c->xml_msg[i] == '\n' || c->xml_msg[i] == '\r')
            c->xml_msg[i] = ' ';
}

/* The line of the current node (the parser itself may be further on). */
/* libxml2's unstructured messages ("xmlParseChunk: encoder error"): an error of the
 * document; the structured handler usually has the better text, so keep the first. */
static void csdl_generic_error(void *arg, const char *msg, ...)
{
    csdl_ctx *c = arg;
    if (c->xml_err)
        return;
    c->xml_err = true;
    c->xml_line = c->xml_col = 0;
    snprintf(c->xml_msg, sizeof c->xml_msg, "%s", msg ? msg : "malformed XML");
    size_t n = strlen(c->xml_msg);
    for (size_t i = 0; i < n; i++)
        if (c->xml_msg[i] == '\n' || c->xml_msg[i] == '\r' || c->xml_msg[i] == '%')
            c->xml_msg[i] = ' ';
    while (n && c->xml_msg[n - 1] == ' ')
        c->xml_msg[--n] = '\0';
}

static int csdl_line(csdl_ctx *c)
{
    xmlNodePtr n = xmlTextReaderCurrentNode(c->r);
    long l = n ? xmlGetLineNo(n) : -1;
    return l > 0 ? (int)l : xmlTextReaderGetParserLineNumber(c->r);
}

/* Where the start tag "<qname" of the current element begins: the last one that starts at
 * or before the end of line `line` (the line libxml2 records is where the tag ends).  Only
 * used for diagnostics, so it may re-read the file. */
static void csdl_locate(csdl_ctx *c, const char *qname, int line, int *out_line, int *out_col)
{
    *out_line = line;
    *out_col = 0;
    FILE *f = NULL;
    if (c->path && !(f = fopen(c->path, "rb")))
        return;
    size_t ql = strlen(qname), pos = 0, match = 0;
    int l = 1, col = 1;
    int ch;
    for (size_t i = 0;; i++) {
        if (f) {
            if ((ch = getc(f)) == EOF)
                break;
        } else {
            if (i >= c->len)
                break;
            ch = (unsigned char)c->data[i];
        }
        if (l > line)
            break;
        /* match "<qname" incrementally; pos counts matched bytes (0 = waiting for '<') */
        if (pos == ql + 1) {
            if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '>' || ch == '/') {
                *out_line = (int)(match >> 20);
                *out_col = (int)(match & 0xfffff);
            }
            pos = 0;
        }
        if (pos == 0 && ch == '<') {
            pos = 1;
            match = ((size_t)l << 20) | (size_t)(col & 0xfffff);
        } else if (pos > 0 && pos <= ql && ch == qname[pos - 1]) {
            pos++;
        } else if (pos > 0) {
            pos = ch == '<' ? 1 : 0;
            if (pos)
                match = ((size_t)l << 20) | (size_t)(col & 0xfffff);
        }
        if (ch == '\n') {
            l++;
            col = 1;
        } else {
            col++;
        }
    }
    if (f)
        fclose(f);
}

static void csdl_fail(csdl_ctx *c, const char *fmt, const char *arg)
{
    if (c->failed)
        return;
    c->failed = true;
    char text[400];
    snprintf(text, sizeof text, fmt, arg ? arg : "");
    int line = csdl_line(c), col = 0;
    const xmlChar *qn = xmlTextReaderConstName(c->r);
    if (qn && xmlTextReaderNodeType(c->r) == XML_READER_TYPE_ELEMENT)
        csdl_locate(c, (const char *)qn, line, &line, &col);
    sch_set_error(c->err, c->file, line, col, "%s", text);
}

/* An attribute copied into the arena (NULL when absent). */
static char *csdl_attr(csdl_ctx *c, const char *name)
{
    xmlChar *v = xmlTextReaderGetAttribute(c->r, (const xmlChar *)name);
    if (!v)
        return NULL;
    char *p = sch_strdup(c->s, (const char *)v);
    xmlFree(v);
    return p;
}

/* An attribute into a caller buffer; false when absent. */
static bool csdl_attr_buf(csdl_ctx *c, const char *name, char *buf, size_t n)
{
    xmlChar *v = xmlTextReaderGetAttribute(c->r, (const xmlChar *)name);
    if (!v)
        return false;
    snprintf(buf, n, "%s", (const char *)v);
    xmlFree(v);
    return true;
}

static bool csdl_is(csdl_ctx *c, const char *local)
{
    const xmlChar *n = xmlTextReaderConstLocalName(c->r);
    return n && !strcmp((const char *)n, local);
}

static const char *csdl_last_segment(const char *q)
{
    const char *dot = strrchr(q, '.');
    return dot ? dot + 1 : q;
}

/* "NS.Name" -> "Name" copied in the arena; "Collection(NS.Name)" -> "Name" too. */
static const char *csdl_unqualify(schema *s, const char *q, bool *collection)
{
    size_t n = strlen(q);
    bool coll = n > 12 && !strncmp(q, "Collection(", 11) && q[n - 1] == ')';
    if (collection)
        *collection = coll;
    if (coll) {
        char *inner = sch_strndup(s, q + 11, n - 12);
        return inner ? csdl_last_segment(inner) : NULL;
    }
    return csdl_last_segment(q);
}

/* Advance to the end of the current element's subtree (reader left on its last node, so
 * the next xmlTextReaderRead moves past it).  Returns 1, or <= 0 on error/EOF. */
static int csdl_skip(csdl_ctx *c)
{
    if (xmlTextReaderNodeType(c->r) != XML_READER_TYPE_ELEMENT ||
        xmlTextReaderIsEmptyElement(c->r))
        return 1; /* nothing below, or a handler already consumed the subtree */
    int depth = xmlTextReaderDepth(c->r);
    int ret;
    while ((ret = xmlTextReaderRead(c->r)) == 1) {
        if (xmlTextReaderNodeType(c->r) == XML_READER_TYPE_END_ELEMENT &&
            xmlTextReaderDepth(c->r) == depth)
            return 1;
    }
    return ret;
}

/* Iterate the child elements of the current element: call with *depth = -1 first.
 * Returns 1 with the reader on the next child element (at depth+1), 0 at the parent's end,
 * -1 on error.  A child left unconsumed is skipped by the next call. */
static int csdl_next_child(csdl_ctx *c, int *depth, bool *pending_skip)
{
    if (*depth < 0) {
        *depth = xmlTextReaderDepth(c->r);
        *pending_skip = false;
        if (xmlTextReaderIsEmptyElement(c->r))
            return 0;
    } else if (*pending_skip) {
        *pending_skip = false;
        if (csdl_skip(c) != 1)
            return -1;
    }
    int ret;
    while ((ret = xmlTextReaderRead(c->r)) == 1) {
        int t = xmlTextReaderNodeType(c->r);
        int d = xmlTextReaderDepth(c->r);
        if (t == XML_READER_TYPE_END_ELEMENT && d == *depth)
            return 0;
        if (t == XML_READER_TYPE_ELEMENT && d == *depth + 1) {
            *pending_skip = true;
            return 1;
        }
    }
    return -1;
}

/* The text content of the current element (first text node), into buf. */
static void csdl_text(csdl_ctx *c, char *buf, size_t n)
{
    buf[0] = '\0';
    if (xmlTextReaderIsEmptyElement(c->r))
        return;
    xmlChar *v = xmlTextReaderReadString(c->r);
    if (v) {
        const char *p = (const char *)v;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        snprintf(buf, n, "%s", p);
        size_t len = strlen(buf);
        while (len && (buf[len - 1] == ' ' || buf[len - 1] == '\t' || buf[len - 1] == '\n' ||
                       buf[len - 1] == '\r'))
            buf[--len] = '\0';
        xmlFree(v);
    }
}

/* Read an <Annotation> at the reader: term (last segment), boolean value (a tag without Bool
 * is true) and whether it says AXType/Date.  Leaves the reader inside the element; the
 * caller's child iteration skips the rest. */
static int csdl_annotation(csdl_ctx *c, char *term, size_t tn, bool *value, bool *ax_date)
{
    char buf[256];
    term[0] = '\0';
    *value = true;
    *ax_date = false;
    if (!csdl_attr_buf(c, "Term", buf, sizeof buf)) {
        csdl_fail(c, "Annotation without Term", NULL);
        return -1;
    }
    const char *seg = csdl_last_segment(buf);
    size_t sl = strlen(seg);
    if (sl >= tn)
        sl = tn - 1;
    memcpy(term, seg, sl);
    term[sl] = '\0';
    char v[256];
    if (csdl_attr_buf(c, "Bool", v, sizeof v))
        *value = strcmp(v, "false") != 0;
    if (csdl_attr_buf(c, "EnumMember", v, sizeof v)) {
        size_t n = strlen(v);
        *ax_date = n >= 5 && !strcmp(v + n - 5, "/Date");
    }
    int depth = -1;
    bool pend;
    int r;
    while ((r = csdl_next_child(c, &depth, &pend)) == 1) {
        if (csdl_is(c, "Bool")) {
            csdl_text(c, v, sizeof v);
            *value = strcmp(v, "false") != 0;
        } else if (csdl_is(c, "EnumMember")) {
            csdl_text(c, v, sizeof v);
            /* may hold several space-separated members; Date stands alone for AXType */
            size_t n = strlen(v);
            *ax_date = n >= 5 && !strcmp(v + n - 5, "/Date");
        }
        /* xmlTextReaderReadString does not move the reader: the child is skipped next */
    }
    return r < 0 ? -1 : 0;
}

static void csdl_apply_prop_annot(schema_prop *p, const char *term, bool value, bool ax_date)
{
    if (!strcmp(term, "IsRequired"))
        p->required = value;
    else if (!strcmp(term, "AllowEdit"))
        p->allow_edit = value;
    else if (!strcmp(term, "AllowEditOnCreate"))
        p->allow_edit_on_create = value;
    else if (!strcmp(term, "Computed"))
        p->computed = value;
    else if (!strcmp(term, "AXType"))
        p->is_date = ax_date;
}

static int csdl_int_attr(csdl_ctx *c, const char *name, int *out, bool allow_variable)
{
    char v[64];
    *out = SCHEMA_UNSTATED;
    if (!csdl_attr_buf(c, name, v, sizeof v))
        return 0;
    if (!strcmp(v, "max"))
        return 0;
    if (allow_variable && (!strcmp(v, "variable") || !strcmp(v, "floating"))) {
        *out = SCHEMA_SCALE_VARIABLE;
        return 0;
    }
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (end == v || *end || errno || n < 0 || n > 1000000000L) {
        char msg[128];
        snprintf(msg, sizeof msg, "invalid %s value '%.40s'", name, v);
        csdl_fail(c, "%s", msg);
        return -1;
    }
    *out = (int)n;
    return 0;
}

/* ---- enum types (index pass) ---------------------------------------------------------- */

static int csdl_enum(csdl_ctx *c)
{
    schema *s = c->s;
    char *name = csdl_attr(c, "Name");
    if (!name) {
        csdl_fail(c, "EnumType without Name", NULL);
        return -1;
    }
    schema_enum *e = sch_alloc(s, sizeof *e);
    char *q = sch_alloc(s, strlen(c->ns) + strlen(name) + 2);
    if (!e || !q)
        return -1;
    sprintf(q, "%s%s%s", c->ns, c->ns[0] ? "." : "", name);
    e->name = name;
    e->qualified = q;
    char v[16];
    e->is_flags = csdl_attr_buf(c, "IsFlags", v, sizeof v) && !strcmp(v, "true");
    sch_vec members = {.elem = sizeof(schema_enum_member)};
    int depth = -1;
    bool pend;
    int r;
    long long next = 0;
    while ((r = csdl_next_child(c, &depth, &pend)) == 1) {
        if (!csdl_is(c, "Member"))
            continue;
        schema_enum_member *m = sch_vec_push(&members);
        if (!m) {
            s->oom = true;
            r = -1;
            break;
        }
        m->name = csdl_attr(c, "Name");
        if (!m->name) {
            csdl_fail(c, "enum Member without Name", NULL);
            r = -1;
            break;
        }
        char val[64];
        if (csdl_attr_buf(c, "Value", val, sizeof val)) {
            char *end;
            errno = 0;
            m->value = strtoll(val, &end, 10);
            if (end == val || *end || errno) {
                char msg[128];
                snprintf(msg, sizeof msg, "invalid enum member Value '%.40s'", val);
                csdl_fail(c, "%s", msg);
                r = -1;
                break;
            }
        } else {
            m->value = next;
        }
        next = m->value + (m->value < 0x7fffffffffffffffLL ? 1 : 0);
    }
    if (r == 0) {
        e->nmembers = members.n;
        e->members = sch_vec_to_arena(s, &members);
        if (sch_add_enum(s, e) < 0)
            r = -1;
    }
    sch_vec_free(&members);
    return r < 0 ? -1 : 0;
}

/* ---- entity and complex types --------------------------------------------------------- */

static int csdl_property(csdl_ctx *c, sch_vec *props)
{
    schema *s = c->s;
    schema_prop *p = sch_vec_push(props);
    if (!p) {
        s->oom = true;
        return -1;
    }
    p->line = csdl_line(c);
    p->name = csdl_attr(c, "Name");
    p->type.name = csdl_attr(c, "Type");
    if (!p->name || !p->type.name) {
        csdl_fail(c, p->name ? "Property '%s' without Type" : "Property without Name",
                  p->name);
        return -1;
    }
    char v[16];
    p->nullable = !(csdl_attr_buf(c, "Nullable", v, sizeof v) && !strcmp(v, "false"));
    p->allow_edit = true;
    p->allow_edit_on_create = true;
    if (csdl_int_attr(c, "MaxLength", &p->max_length, false) < 0 ||
        csdl_int_attr(c, "Precision", &p->precision, false) < 0 ||
        csdl_int_attr(c, "Scale", &p->scale, true) < 0)
        return -1;
    int depth = -1;
    bool pend;
    int r;
    while ((r = csdl_next_child(c, &depth, &pend)) == 1) {
        if (!csdl_is(c, "Annotation"))
            continue;
        char term[64];
        bool value, ax_date;
        if (csdl_annotation(c, term, sizeof term, &value, &ax_date) < 0)
            return -1;
        /* p may not move: the vector only grows between properties */
        csdl_apply_prop_annot(p, term, value, ax_date);
    }
    return r < 0 ? -1 : 0;
}

static int csdl_struct_type(csdl_ctx *c, bool is_entity, int *next_ret)
{
    schema *s = c->s;
    char name[512];
    if (!csdl_attr_buf(c, "Name", name, sizeof name)) {
        csdl_fail(c, is_entity ? "EntityType without Name" : "ComplexType without Name",
                  NULL);
        return -1;
    }
    char q[800];
    snprintf(q, sizeof q, "%s%s%s", c->ns, c->ns[0] ? "." : "", name);
    size_t idx = (size_t)-1;
    if (!sch_map_get(&s->type_idx, q, &idx) && c->index_pass) {
        idx = sch_add_type(s, name, q, is_entity, csdl_line(c));
        if (idx == (size_t)-1)
            return -1;
    }
    bool materialise = idx != (size_t)-1 && !s->types[idx].t &&
                       !strcmp(s->types[idx].qualified, q) && sch_wanted(s, name);
    if (!materialise) {
        *next_ret = xmlTextReaderNext(c->r);
        return 2; /* the reader is already on the next node */
    }

    sch_tentry *te = &s->types[idx];
    te->base = csdl_attr(c, "BaseType");
    if (te->base && sch_want(s, csdl_last_segment(te->base)) < 0)
        return -1;
    sch_vec props = {.elem = sizeof(schema_prop)};
    sch_vec keys = {.elem = sizeof(const char *)};
    sch_vec navs = {.elem = sizeof(schema_nav)};
    bool read_only = false;
    int depth = -1;
    bool pend;
    int r;
    while ((r = csdl_next_child(c, &depth, &pend)) == 1) {
        if (csdl_is(c, "Property")) {
            if (csdl_property(c, &props) < 0) {
                r = -1;
                break;
            }
            /* referenced complex types are wanted too (enums are always indexed) */
            const schema_prop *p = &((schema_prop *)props.data)[props.n - 1];
            if (strncmp(p->type.name, "Edm.", 4)) {
                const char *u = csdl_unqualify(s, p->type.name, NULL);
                if (!u || sch_want(s, u) < 0) {
                    r = -1;
                    break;
                }
            }
        } else if (csdl_is(c, "NavigationProperty")) {
            schema_nav *nv = sch_vec_push(&navs);
            if (!nv) {
                s->oom = true;
                r = -1;
                break;
            }
            nv->name = csdl_attr(c, "Name");
            const char *t = csdl_attr(c, "Type");
            if (!nv->name || !t) {
                csdl_fail(c, "NavigationProperty without Name or Type", NULL);
                r = -1;
                break;
            }
            nv->target = csdl_unqualify(s, t, &nv->collection);
            if (!nv->target) {
                r = -1;
                break;
            }
        } else if (csdl_is(c, "Key")) {
            int kd = -1;
            bool kp;
            int kr;
            while ((kr = csdl_next_child(c, &kd, &kp)) == 1) {
                if (!csdl_is(c, "PropertyRef"))
                    continue;
                const char **k = sch_vec_push(&keys);
                if (!k) {
                    s->oom = true;
                    kr = -1;
                    break;
                }
                *k = csdl_attr(c, "Name");
                if (!*k) {
                    csdl_fail(c, "PropertyRef without Name", NULL);
                    kr = -1;
                    break;
                }
            }
            pend = false; /* the Key element's end was consumed by the inner loop */
            if (kr < 0) {
                r = -1;
                break;
            }
        } else if (csdl_is(c, "Annotation")) {
            char term[64];
            bool value, ax_date;
            if (csdl_annotation(c, term, sizeof term, &value, &ax_date) < 0) {
                r = -1;
                break;
            }
            if (!strcmp(term, "IsReadOnly"))
                read_only = value;
        }
    }
    if (r == 0) {
        schema_type *t = sch_alloc(s, sizeof *t);
        if (t) {
            te = &s->types[idx];
            t->name = te->name;
            t->qualified = te->qualified;
            t->is_entity = te->is_entity;
            t->line = te->line;
            t->read_only = read_only;
            t->nprops = props.n;
            t->props = sch_vec_to_arena(s, &props);
            t->nkeys = keys.n;
            t->keys = sch_vec_to_arena(s, &keys);
            t->nnav = navs.n;
            t->nav = sch_vec_to_arena(s, &navs);
            te->t = t;
        } else {
            r = -1;
        }
    }
    sch_vec_free(&props);
    sch_vec_free(&keys);
    sch_vec_free(&navs);
    return r < 0 ? -1 : 0;
}

/* ---- containers, annotations blocks, type definitions --------------------------------- */

static int csdl_container(csdl_ctx *c)
{
    int depth = -1;
    bool pend;
    int r;
    while ((r = csdl_next_child(c, &depth, &pend)) == 1) {
        if (!csdl_is(c, "EntitySet"))
            continue;
        char name[512], type[800];
        if (!csdl_attr_buf(c, "Name", name, sizeof name) ||
            !csdl_attr_buf(c, "EntityType", type, sizeof type)) {
            csdl_fail(c, "EntitySet without Name or EntityType", NULL);
            return -1;
        }
        if (sch_add_set(c->s, name, csdl_last_segment(type)) < 0)
            return -1;
    }
    return r < 0 ? -1 : 0;
}

static int csdl_annotations_block(csdl_ctx *c)
{
    char target[800];
    if (!csdl_attr_buf(c, "Target", target, sizeof target)) {
        csdl_fail(c, "Annotations without Target", NULL);
        return -1;
    }
    /* "NS.Type/Prop" or "NS.Type"; other targets (containers, actions) are not ours */
    char *slash = strchr(target, '/');
    if (slash)
        *slash = '\0';
    if (strchr(target, '(') || (slash && strchr(slash + 1, '/')))
        return 0; /* the caller skips the block */
    const char *type = sch_strdup(c->s, csdl_last_segment(target));
    const char *prop = slash ? sch_strdup(c->s, slash + 1) : NULL;
    if (!type || (slash && !prop))
        return -1;
    int depth = -1;
    bool pend;
    int r;
    while ((r = csdl_next_child(c, &depth, &pend)) == 1) {
        if (!csdl_is(c, "Annotation"))
            continue;
        csdl_annot *a = sch_vec_push(&c->annots);
        if (!a) {
            c->s->oom = true;
            return -1;
        }
        a->type = type;
        a->prop = prop;
        if (csdl_annotation(c, a->term, sizeof a->term, &a->value, &a->ax_date) < 0)
            return -1;
    }
    return r < 0 ? -1 : 1;
}

static int csdl_typedef_decl(csdl_ctx *c)
{
    csdl_typedef *td = sch_vec_push(&c->typedefs);
    if (!td) {
        c->s->oom = true;
        return -1;
    }
    td->name = csdl_attr(c, "Name");
    td->underlying = csdl_attr(c, "UnderlyingType");
    if (!td->name || !td->underlying) {
        csdl_fail(c, "TypeDefinition without Name or UnderlyingType", NULL);
        return -1;
    }
    char *q = sch_alloc(c->s, strlen(c->ns) + strlen(td->name) + 2);
    if (!q)
        return -1;
    sprintf(q, "%s%s%s", c->ns, c->ns[0] ? "." : "", td->name);
    td->qualified = q;
    if (csdl_int_attr(c, "MaxLength", &td->max_length, false) < 0 ||
        csdl_int_attr(c, "Precision", &td->precision, false) < 0 ||
        csdl_int_attr(c, "Scale", &td->scale, true) < 0)
        return -1;
    size_t at = c->typedefs.n - 1;
    if (sch_map_put(&c->typedef_idx, td->qualified, at) < 0 ||
        sch_map_put(&c->typedef_idx, td->name, at) < 0) {
        c->s->oom = true;
        return -1;
    }
    return 0;
}

/* ---- the pass ------------------------------------------------------------------------- */

static int csdl_root(csdl_ctx *c)
{
    if (!csdl_is(c, "Edmx")) {
        const xmlChar *n = xmlTextReaderConstName(c->r);
        csdl_fail(c, "not a CSDL document: root element <%s>, expected <edmx:Edmx>",
                  n ? (const char *)n : "?");
        return -1;
    }
    char v[64];
    if (!csdl_attr_buf(c, "Version", v, sizeof v)) {
        csdl_fail(c, "edmx:Edmx without Version", NULL);
        return -1;
    }
    if (strcmp(v, "4.0") && strcmp(v, "4.01")) {
        csdl_fail(c, "unsupported EDMX version '%s': mapc reads CSDL 4.0 / 4.01 (OData v4)", v);
        return -1;
    }
    return 0;
}

static int csdl_pass(csdl_ctx *c)
{
    int opts = XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_COMPACT | XML_PARSE_NOCDATA |
               XML_PARSE_BIG_LINES;
    /* errors raised without the reader's handler (while the reader is created, encoding and
     * I/O errors) go to libxml2's global handlers, which print: route them to us for the
     * duration of the pass, then restore */
    xmlStructuredErrorFunc saved_fn = xmlStructuredError;
    void *saved_ctx = xmlStructuredErrorContext;
    xmlGenericErrorFunc saved_gen = xmlGenericError;
    void *saved_gen_ctx = xmlGenericErrorContext;
    xmlSetStructuredErrorFunc(c, csdl_xml_error);
    xmlSetGenericErrorFunc(c, csdl_generic_error);
    if (c->path)
        c->r = xmlReaderForFile(c->path, NULL, opts);
    else
        c->r = xmlReaderForMemory(c->data, (int)c->len, c->file, NULL, opts);
    if (!c->r) {
        xmlSetStructuredErrorFunc(saved_ctx, saved_fn);
        xmlSetGenericErrorFunc(saved_gen_ctx, saved_gen);
        if (!c->failed) {
            c->failed = true;
            if (c->xml_err)
                sch_set_error(c->err, c->file, c->xml_line, c->xml_col, "%s", c->xml_msg);
            else
                sch_set_error(c->err, c->file, 0, 0, "cannot read the document");
        }
        return -1;
    }
    xmlTextReaderSetStructuredErrorHandler(c->r, csdl_xml_error, c);
    c->seen_root = false;
    c->ns[0] = '\0';
    int ret = xmlTextReaderRead(c->r);
    while (ret == 1 && !c->failed && !c->s->oom) {
        if (xmlTextReaderNodeType(c->r) != XML_READER_TYPE_ELEMENT) {
            ret = xmlTextReaderRead(c->r);
            continue;
        }
        int rc = 0;
        if (!c->seen_root) {
            c->seen_root = true;
            rc = csdl_root(c);
        } else if (csdl_is(c, "Schema")) {
            if (!csdl_attr_buf(c, "Namespace", c->ns, sizeof c->ns)) {
                csdl_fail(c, "Schema without Namespace", NULL);
                rc = -1;
            } else if (c->index_pass) {
                char alias[256];
                if (csdl_attr_buf(c, "Alias", alias, sizeof alias)) {
                    csdl_alias *a = sch_vec_push(&c->aliases);
                    if (!a)
                        c->s->oom = true;
                    else {
                        a->alias = sch_strdup(c->s, alias);
                        a->ns = sch_strdup(c->s, c->ns);
                    }
                }
            }
        } else if (csdl_is(c, "EntityType") || csdl_is(c, "ComplexType")) {
            rc = csdl_struct_type(c, csdl_is(c, "EntityType"), &ret);
            if (rc == 2)
                continue;
        } else if (c->index_pass && csdl_is(c, "EnumType")) {
            rc = csdl_enum(c);
        } else if (c->index_pass && csdl_is(c, "EntityContainer")) {
            rc = csdl_container(c);
        } else if (c->index_pass && csdl_is(c, "TypeDefinition")) {
            rc = csdl_typedef_decl(c);
            if (rc == 0 && csdl_skip(c) != 1)
                rc = -1;
        } else if (c->index_pass && csdl_is(c, "Annotations")) {
            rc = csdl_annotations_block(c);
            if (rc >= 0 && csdl_skip(c) != 1)
                rc = -1;
        } else if (!csdl_is(c, "DataServices") && !csdl_is(c, "Reference") &&
                   !csdl_is(c, "Include")) {
            /* Action, Function, Term, EnumType/EntityContainer in later passes, ... */
            ret = xmlTextReaderNext(c->r);
            continue;
        }
        if (rc < 0) {
            ret = -1; /* a handler stopped: an XML error, end of input, or its own error */
            break;
        }
        ret = xmlTextReaderRead(c->r);
    }
    if (ret < 0 && !c->failed && !c->s->oom) {
        c->failed = true;
        if (c->xml_err)
            sch_set_error(c->err, c->file, c->xml_line, c->xml_col, "%s", c->xml_msg);
        else
            sch_set_error(c->err, c->file, xmlTextReaderGetParserLineNumber(c->r),
                          xmlTextReaderGetParserColumnNumber(c->r), "malformed XML");
    }
    if (!c->failed && c->xml_err) {
        c->failed = true;
        sch_set_error(c->err, c->file, c->xml_line, c->xml_col, "%s", c->xml_msg);
    }
    if (!c->failed && !c->s->oom && !c->seen_root) {
        c->failed = true;
        sch_set_error(c->err, c->file, 1, 1, "empty document");
    }
    xmlFreeTextReader(c->r);
    c->r = NULL;
    xmlSetStructuredErrorFunc(saved_ctx, saved_fn);
    xmlSetGenericErrorFunc(saved_gen_ctx, saved_gen);
    return c->failed || c->s->oom ? -1 : 0;
}

/* ---- the EntitySet pre-scan ----------------------------------------------------------- */

/* Value of attribute `name` inside the tag text [p, end); copied into buf. */
static bool csdl_scan_attr(const char *p, const char *end, const char *name, char *buf,
                           size_t n)
{
    size_t nl = strlen(name);
    for (const char *q = p; q + nl + 2 < end; q++) {
        if ((q[-1] == ' ' || q[-1] == '\t' || q[-1] == '\n' || q[-1] == '\r') &&
            !memcmp(q, name, nl)) {
            const char *v = q + nl;
            while (v < end && (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r'))
                v++;
            if (v >= end || *v != '=')
                continue;
            v++;
            while (v < end && (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r'))
                v++;
            if (v >= end || (*v != '"' && *v != '\''))
                continue;
            char quote = *v++;
            const char *ve = memchr(v, quote, (size_t)(end - v));
            if (!ve || (size_t)(ve - v) >= n)
                return false;
            memcpy(buf, v, (size_t)(ve - v));
            buf[ve - v] = '\0';
            return true;
        }
    }
    return false;
}

/* Scan [p, p+n) for EntitySet tags; returns how many bytes are done with (the rest, an
 * unfinished tag, is carried into the next chunk unless at_eof). */
static size_t csdl_prescan_chunk(csdl_ctx *c, const char *p, size_t n, bool at_eof)
{
    static const char tag[] = "<EntitySet";
    const size_t tl = sizeof tag - 1;
    const char *end = p + n, *q = p;
    while ((size_t)(end - q) > tl) {
        const char *hit = memchr(q, '<', (size_t)(end - q));
        if (!hit || (size_t)(end - hit) <= tl)
            break;
        if (memcmp(hit, tag, tl) || !(hit[tl] == ' ' || hit[tl] == '\t' || hit[tl] == '\n' ||
                                      hit[tl] == '\r')) {
            q = hit + 1;
            continue;
        }
        const char *close = memchr(hit, '>', (size_t)(end - hit));
        if (!close)
            return at_eof ? n : (size_t)(hit - p);
        char name[512], type[800];
        if (csdl_scan_attr(hit + tl, close, "Name", name, sizeof name) &&
            csdl_scan_attr(hit + tl, close, "EntityType", type, sizeof type) &&
            sch_map_get(&c->s->want_idx, name, NULL))
            sch_want(c->s, csdl_last_segment(type));
        q = close + 1;
    }
    if (at_eof)
        return n;
    /* keep a tail that may hold the start of a tag */
    return n > tl ? n - tl : 0;
}

static void csdl_prescan(csdl_ctx *c)
{
    if (!c->path) {
        csdl_prescan_chunk(c, c->data, c->len, true);
        return;
    }
    FILE *f = fopen(c->path, "rb");
    if (!f)
        return;
    size_t cap = 1 << 18, have = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return;
    }
    for (;;) {
        size_t r = fread(buf + have, 1, cap - have, f);
        have += r;
        bool eof = r == 0;
        size_t done = csdl_prescan_chunk(c, buf, have, eof);
        if (eof)
            break;
        if (done == 0 && have == cap)
            done = have; /* a monster tag: give up on it */
        memmove(buf, buf + done, have - done);
        have -= done;
    }
    free(buf);
    fclose(f);
}

/* ---- linking -------------------------------------------------------------------------- */

static const char *csdl_expand_alias(csdl_ctx *c, const char *name, char *buf, size_t n)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return name;
    const csdl_alias *al = c->aliases.data;
    for (size_t i = 0; i < c->aliases.n; i++) {
        size_t l = strlen(al[i].alias);
        if ((size_t)(dot - name) == l && !strncmp(name, al[i].alias, l)) {
            snprintf(buf, n, "%s%s", al[i].ns, dot);
            return buf;
        }
    }
    return name;
}

static int csdl_resolve(csdl_ctx *c, schema_typeref *tr, const char *name, int depth,
                        const csdl_typedef **via)
{
    schema *s = c->s;
    tr->name = name;
    size_t n = strlen(name);
    if (n > 12 && !strncmp(name, "Collection(", 11) && name[n - 1] == ')') {
        tr->kind = SK_ARRAY;
        schema_typeref *el = sch_alloc(s, sizeof *el);
        const char *inner = sch_strndup(s, name + 11, n - 12);
        if (!el || !inner)
            return -1;
        tr->elem = el;
        return depth > 8 ? (el->kind = SK_ANY, el->name = inner, 0)
                         : csdl_resolve(c, el, inner, depth + 1, via);
    }
    if (sch_edm_kind(name, &tr->kind))
        return 0;
    char buf[1024];
    const char *q = csdl_expand_alias(c, name, buf, sizeof buf);
    const csdl_typedef *td = c->typedefs.data;
    size_t i;
    if (depth < 8 && (sch_map_get(&c->typedef_idx, q, &i) ||
                      sch_map_get(&c->typedef_idx, name, &i))) {
        {
            if (via && !*via)
                *via = &td[i];
            int rc = csdl_resolve(c, tr, td[i].underlying, depth + 1, via);
            tr->name = name;
            return rc;
        }
    }
    if (sch_map_get(&s->enum_idx, q, &i)) {
        tr->kind = SK_ENUM;
        tr->enumt = s->enums[i];
        return 0;
    }
    tr->kind = SK_OBJECT;
    if (sch_map_get(&s->type_idx, q, &i))
        tr->object = s->types[i].t;
    return 0; /* dangling: SK_OBJECT with no object */
}

/* Prepend the (flattened) base type's properties and keys.  state: 0 new, 1 busy, 2 done. */
static int csdl_flatten(csdl_ctx *c, size_t idx, int depth)
{
    schema *s = c->s;
    sch_tentry *te = &s->types[idx];
    if (te->state)
        return 0;
    te->state = 1;
    schema_type *t = te->t;
    if (t && te->base && depth < 32) {
        char buf[1024];
        size_t bi;
        const char *bq = csdl_expand_alias(c, te->base, buf, sizeof buf);
        if (sch_map_get(&s->type_idx, bq, &bi) && bi != idx && s->types[bi].t &&
            s->types[bi].state != 1) {
            if (csdl_flatten(c, bi, depth + 1) < 0)
                return -1;
            const schema_type *b = s->types[bi].t;
            if (b->nprops) {
                schema_prop *np = sch_alloc(s, (b->nprops + t->nprops) * sizeof *np);
                if (!np)
                    return -1;
                memcpy(np, b->props, b->nprops * sizeof *np);
                if (t->nprops)
                    memcpy(np + b->nprops, t->props, t->nprops * sizeof *np);
                t->props = np;
                t->nprops += b->nprops;
            }
            if (!t->nkeys) {
                t->nkeys = b->nkeys;
                t->keys = b->keys;
            }
            if (b->nnav) {
                schema_nav *nn = sch_alloc(s, (b->nnav + t->nnav) * sizeof *nn);
                if (!nn)
                    return -1;
                memcpy(nn, b->nav, b->nnav * sizeof *nn);
                if (t->nnav)
                    memcpy(nn + b->nnav, t->nav, t->nnav * sizeof *nn);
                t->nav = nn;
                t->nnav += b->nnav;
            }
            t->read_only = t->read_only || b->read_only;
        }
    }
    te->state = 2;
    return 0;
}

static int csdl_link(csdl_ctx *c)
{
    schema *s = c->s;
    /* external annotations first (before inheritance copies the property arrays) */
    const csdl_annot *an = c->annots.data;
    for (size_t i = 0; i < c->annots.n; i++) {
        size_t ti = sch_find_tentry(s, an[i].type);
        if (ti == (size_t)-1 || !s->types[ti].t)
            continue;
        schema_type *t = s->types[ti].t;
        if (!an[i].prop) {
            if (!strcmp(an[i].term, "IsReadOnly"))
                t->read_only = an[i].value;
            continue;
        }
        for (size_t j = 0; j < t->nprops; j++)
            if (!strcmp(t->props[j].name, an[i].prop))
                csdl_apply_prop_annot((schema_prop *)&t->props[j], an[i].term, an[i].value,
                                      an[i].ax_date);
    }
    for (size_t i = 0; i < s->ntypes; i++)
        if (csdl_flatten(c, i, 0) < 0)
            return -1;
    for (size_t i = 0; i < s->ntypes; i++) {
        schema_type *t = s->types[i].t;
        if (!t)
            continue;
        for (size_t j = 0; j < t->nprops; j++) {
            schema_prop *p = (schema_prop *)&t->props[j];
            const csdl_typedef *via = NULL;
            if (csdl_resolve(c, &p->type, p->type.name, 0, &via) < 0)
                return -1;
            if (via && p->max_length == SCHEMA_UNSTATED)
                p->max_length = via->max_length;
            if (via && p->precision == SCHEMA_UNSTATED)
                p->precision = via->precision;
            if (via && p->scale == SCHEMA_UNSTATED)
                p->scale = via->scale;
            if (p->is_date && p->type.kind == SK_DATETIME)
                p->type.kind = SK_DATE;
            p->key = false;
            for (size_t k = 0; k < t->nkeys; k++)
                if (!strcmp(t->keys[k], p->name))
                    p->key = true;
        }
    }
    for (size_t i = 0; i < s->ntypes; i++)
        s->types[i].state = 0;
    return 0;
}

/* ---- entry ---------------------------------------------------------------------------- */

/* Types that are wanted but were not met while wanted: another pass is needed. */
static size_t csdl_missing(schema *s, size_t *materialised)
{
    size_t missing = 0;
    *materialised = 0;
    if (!s->want_all)
        for (size_t i = 0; i < s->nsets; i++)
            if (sch_map_get(&s->want_idx, s->sets[i].name, NULL) &&
                !sch_map_get(&s->want_idx, s->sets[i].type, NULL))
                sch_want(s, s->sets[i].type);
    for (size_t i = 0; i < s->ntypes; i++)
        if (s->types[i].t)
            ++*materialised;
        else if (sch_wanted(s, s->types[i].name))
            missing++;
    return missing;
}

int csdl_load(schema *s, const char *path, const char *data, size_t len, schema_error *err)
{
    csdl_ctx c = {
        .s = s, .path = path, .data = data, .len = len, .file = s->path, .err = err,
        .aliases = {.elem = sizeof(csdl_alias)},
        .annots = {.elem = sizeof(csdl_annot)},
        .typedefs = {.elem = sizeof(csdl_typedef)},
    };
    int rc = -1;
    if (path) {
        FILE *f = fopen(path, "rb");
        if (!f) {
            sch_set_error(err, path, 0, 0, "cannot open: %s", strerror(errno));
            return -1;
        }
        fclose(f);
    } else if (len > (size_t)0x7fffffff) {
        sch_set_error(err, c.file, 0, 0, "document too large");
        return -1;
    }
    if (!s->want_all)
        csdl_prescan(&c);
    c.index_pass = true;
    if (csdl_pass(&c) < 0)
        goto out;
    c.index_pass = false;
    size_t prev = (size_t)-1, done;
    /* each further pass materialises at least one more type or stops; a pathological chain
     * of types each referencing an earlier one would need a pass per link, so the fourth
     * extra pass materialises every type not met yet */
    for (int extra = 0; csdl_missing(s, &done) > 0 && done != prev; extra++) {
        prev = done;
        if (extra == 3)
            s->want_all = true;
        if (csdl_pass(&c) < 0)
            goto out;
    }
    if (csdl_link(&c) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0 && s->oom && !c.failed)
        sch_set_error(err, c.file, 0, 0, "out of memory");
    sch_vec_free(&c.aliases);
    sch_vec_free(&c.annots);
    sch_vec_free(&c.typedefs);
    sch_map_free(&c.typedef_idx);
    return rc;
}
