/* postfix_diag._core: the CPython side of the compiled parse core.
 *
 * _core.Parser turns what pd_scan() found into the same Event objects as parse.py's
 * parse_line(), and hands every line it does not handle (non-ASCII text, no known envelope,
 * NUL padding, over-long lines, a matcher it could not translate, a PCRE2 limit) to the Python
 * parse_line it was given. postfix_diag/core.py builds it from a parse.Parser; the Python parser
 * is the reference and tests/test_core_differential.py holds the two to identical events.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "pd_core.h"

#define N_EVENT_SLOTS 15
#define INT_FAST_DIGITS 18
#define FLOAT_FAST_CHARS 64
#define CACHE_KEY 64

enum { MODE_NO_TS = 0, MODE_CLASSIC = 1, MODE_OUTER = 2, MODE_ISO = 3, MODE_OTHER = 4 };
enum { CONV_NONE = 0, CONV_INT = 1, CONV_FLOAT = 2, CONV_CALL = 3 };

/* ---------------------------------------------------------------- Body: one compiled matcher */

typedef struct {
    PyObject *kind;        /* str */
    int is_reject;         /* kind == "reject": folded into an access kind by its action */
    int simple;            /* names unique, each converted by its own capture's converter only */
    Py_ssize_t n;          /* captures kept */
    uint32_t *groups;
    PyObject **names;      /* borrowed from keep */
    unsigned char *conv;   /* CONV_* per capture */
    PyObject **convfn;     /* borrowed from keep: the converter of CONV_CALL captures */
    PyObject *conversions; /* ((name, converter), ...) for the general path */
    PyObject *keep;        /* the rule's tuple: keeps names and converters alive */
    /* light events (Parser(select=...)): NULL ftype = the kind is not selected */
    PyObject *ftype;       /* the kind's selection.Fields subclass (borrowed from keep) */
    PyObject *fnames;      /* its declared names (borrowed from keep) */
    Py_ssize_t nout;       /* declared fields */
    Py_ssize_t *pos;       /* per capture: declared position, or -1 */
    unsigned char *role;   /* per capture: ROLE_* bits */
} rule_t;

enum { ROLE_QID = 1, ROLE_KIND = 2, ROLE_ACTION = 4 };

typedef struct {
    PyObject_HEAD
    pd_body body;
    rule_t *rules; /* one per marker (kind == NULL: not made yet) */
    uint32_t nrules;
    PyObject *make_rule;
} BodyObject;

static PyTypeObject Body_Type;
static pcre2_compile_context *g_cctx;

static void rule_clear(rule_t *r)
{
    Py_CLEAR(r->kind);
    Py_CLEAR(r->conversions);
    Py_CLEAR(r->keep);
    PyMem_Free(r->groups);
    PyMem_Free(r->names);
    PyMem_Free(r->conv);
    PyMem_Free(r->convfn);
    PyMem_Free(r->pos);
    PyMem_Free(r->role);
    memset(r, 0, sizeof *r);
}

static int Body_traverse(BodyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->make_rule); /* a closure over the parse.Parser that holds this Body */
    return 0;
}

static int Body_clear(BodyObject *self)
{
    Py_CLEAR(self->make_rule);
    return 0;
}

static void Body_dealloc(BodyObject *self)
{
    PyObject_GC_UnTrack(self);
    for (uint32_t i = 0; i < self->nrules; i++)
        rule_clear(&self->rules[i]);
    PyMem_Free(self->rules);
    Py_XDECREF(self->make_rule);
    pd_body_free(&self->body);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* rule tuple: (kind, names, group indexes, conversions, converter per capture, simple,
 *              light) with light None, or (Fields type, declared names) when the kind is selected */
static int rule_init(rule_t *r, PyObject *spec)
{
    PyObject *kind, *names, *idx, *conversions, *convs, *light = Py_None;
    int simple;
    if (!PyArg_ParseTuple(spec, "UO!O!O!O!p|O", &kind, &PyTuple_Type, &names, &PyTuple_Type, &idx,
                          &PyTuple_Type, &conversions, &PyTuple_Type, &convs, &simple, &light))
        return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(names);
    if (PyTuple_GET_SIZE(idx) != n || PyTuple_GET_SIZE(convs) != n) {
        PyErr_SetString(PyExc_ValueError, "rule table: names, groups and converters differ in length");
        return -1;
    }
    if (light != Py_None) {
        if (!PyTuple_Check(light) || PyTuple_GET_SIZE(light) != 2 || !PyType_Check(PyTuple_GET_ITEM(light, 0)) ||
            !PyType_IsSubtype((PyTypeObject *)PyTuple_GET_ITEM(light, 0), &PyTuple_Type) ||
            !PyTuple_Check(PyTuple_GET_ITEM(light, 1))) {
            PyErr_SetString(PyExc_TypeError, "rule table: light must be (Fields type, names)");
            return -1;
        }
        r->ftype = PyTuple_GET_ITEM(light, 0);
        r->fnames = PyTuple_GET_ITEM(light, 1);
        r->nout = PyTuple_GET_SIZE(r->fnames);
    }
    r->pos = PyMem_Calloc(n ? n : 1, sizeof *r->pos);
    r->role = PyMem_Calloc(n ? n : 1, sizeof *r->role);
    if (!r->pos || !r->role) {
        PyErr_NoMemory();
        return -1;
    }
    r->n = n;
    r->groups = PyMem_Calloc(n ? n : 1, sizeof *r->groups);
    r->names = PyMem_Calloc(n ? n : 1, sizeof *r->names);
    r->conv = PyMem_Calloc(n ? n : 1, sizeof *r->conv);
    r->convfn = PyMem_Calloc(n ? n : 1, sizeof *r->convfn);
    if (!r->groups || !r->names || !r->conv || !r->convfn) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i), *g = PyTuple_GET_ITEM(idx, i), *c = PyTuple_GET_ITEM(convs, i);
        long gi = PyLong_AsLong(g);
        if (gi == -1 && PyErr_Occurred())
            return -1;
        if (!PyUnicode_Check(name) || gi <= 0 || gi > 65535) {
            PyErr_SetString(PyExc_ValueError, "rule table: bad field name or group number");
            return -1;
        }
        r->names[i] = name;
        r->pos[i] = -1;
        for (Py_ssize_t k = 0; k < r->nout; k++) {
            int eq = PyUnicode_Compare(name, PyTuple_GET_ITEM(r->fnames, k));
            if (eq == -1 && PyErr_Occurred())
                return -1;
            if (eq == 0)
                r->pos[i] = k;
        }
        r->role[i] = (PyUnicode_CompareWithASCIIString(name, "qid") == 0 ? ROLE_QID : 0) |
                     (PyUnicode_CompareWithASCIIString(name, "kind") == 0 ? ROLE_KIND : 0) |
                     (PyUnicode_CompareWithASCIIString(name, "action") == 0 ? ROLE_ACTION : 0);
        r->groups[i] = (uint32_t)gi;
        r->convfn[i] = c;
        r->conv[i] = c == Py_None ? CONV_NONE
                     : c == (PyObject *)&PyLong_Type ? CONV_INT
                     : c == (PyObject *)&PyFloat_Type ? CONV_FLOAT
                                                        : CONV_CALL;
    }
    r->kind = Py_NewRef(kind);
    r->is_reject = PyUnicode_CompareWithASCIIString(kind, "reject") == 0;
    r->simple = simple;
    r->conversions = Py_NewRef(conversions);
    r->keep = Py_NewRef(spec);
    return 0;
}

/* Body(pattern: bytes | None, markers: int, make_rule, fallback=False)
 * pattern: the alternation without captures, each rule's marker a (*MARK:g), g < markers;
 * make_rule(g) -> (rule tuple, pattern of the rule alone with its captures), or None when that
 * rule cannot be made (its lines go to Python). Called on the rule's first match. */
static PyObject *Body_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *pattern, *make_rule;
    Py_ssize_t markers;
    int fallback = 0;
    static char *kwlist[] = {"pattern", "markers", "make_rule", "fallback", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OnO|p", kwlist, &pattern, &markers, &make_rule, &fallback))
        return NULL;
    if (pattern != Py_None && !PyBytes_Check(pattern)) {
        PyErr_SetString(PyExc_TypeError, "pattern must be bytes or None");
        return NULL;
    }
    if (markers < 0 || markers > 65536) {
        PyErr_SetString(PyExc_ValueError, "markers out of range");
        return NULL;
    }
    uint32_t nrules = (uint32_t)markers;
    BodyObject *self = (BodyObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    if (pd_body_init(&self->body, nrules) < 0) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    self->rules = PyMem_Calloc(nrules ? nrules : 1, sizeof *self->rules);
    self->nrules = nrules;
    if (self->rules == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    self->make_rule = Py_NewRef(make_rule);
    self->body.fallback = fallback;
    if (pattern != Py_None && !fallback) {
        char err[320];
        pd_ctx tmp = {.cctx = g_cctx};
        if (pd_regex_compile(&tmp, &self->body.re, PyBytes_AS_STRING(pattern), (size_t)PyBytes_GET_SIZE(pattern),
                             err, sizeof err) < 0) {
            PyErr_SetString(PyExc_ValueError, err);
            Py_DECREF(self);
            return NULL;
        }
        self->body.has_re = 1;
    }
    return (PyObject *)self;
}

/* pd_resolve_rule for the module: make_rule(g) gives the rule's table and its own pattern. */
static int resolve_rule(void *ud, pd_body *b, uint32_t g)
{
    BodyObject *self = (BodyObject *)((char *)b - offsetof(BodyObject, body));
    PyObject *res = PyObject_CallFunction(self->make_rule, "I", g);
    if (res == NULL)
        return -1;
    if (res == Py_None) {
        Py_DECREF(res);
        return 1;
    }
    PyObject *spec, *pattern;
    if (!PyTuple_Check(res) || !PyArg_ParseTuple(res, "O!O!", &PyTuple_Type, &spec, &PyBytes_Type, &pattern)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "make_rule must return (rule tuple, bytes) or None");
        Py_DECREF(res);
        return -1;
    }
    rule_t *r = &self->rules[g];
    char err[320];
    pd_ctx tmp = {.cctx = g_cctx};
    rule_clear(r);
    pd_regex_free(&b->rule_re[g]);
    if (rule_init(r, spec) < 0 ||
        pd_regex_compile(&tmp, &b->rule_re[g], PyBytes_AS_STRING(pattern), (size_t)PyBytes_GET_SIZE(pattern), err,
                         sizeof err) < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, err);
        Py_DECREF(res);
        rule_clear(r);
        return -1;
    }
    Py_DECREF(res);
    for (Py_ssize_t i = 0; i < r->n; i++) {
        if (r->groups[i] > b->rule_re[g].groups) {
            PyErr_SetString(PyExc_ValueError, "rule field group beyond its pattern's groups");
            rule_clear(r);
            pd_regex_free(&b->rule_re[g]);
            return -1;
        }
    }
    b->rules[g] = r;
    return 0;
}

static PyObject *Body_get_jit(BodyObject *self, void *closure)
{
    return PyBool_FromLong(self->body.has_re && self->body.re.jit);
}

/* match(text: bytes) -> marker group of the rule that matches, or None (tests, timing) */
static PyObject *Body_match(BodyObject *self, PyObject *arg)
{
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "match() needs bytes");
        return NULL;
    }
    if (!self->body.has_re)
        Py_RETURN_NONE;
    static pcre2_match_context *mctx;
    static pcre2_jit_stack *stack;
    if (mctx == NULL) {
        mctx = pcre2_match_context_create(NULL);
        stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
        if (mctx == NULL || stack == NULL)
            return PyErr_NoMemory();
        pcre2_jit_stack_assign(mctx, NULL, stack);
    }
    pd_regex *re = &self->body.re;
    PCRE2_SPTR s = (PCRE2_SPTR)PyBytes_AS_STRING(arg);
    size_t n = (size_t)PyBytes_GET_SIZE(arg);
    int rc = re->jit ? pcre2_jit_match(re->code, s, n, 0, 0, re->md, mctx) : pcre2_match(re->code, s, n, 0, 0, re->md, mctx);
    if (rc == PCRE2_ERROR_NOMATCH)
        Py_RETURN_NONE;
    if (rc < 0)
        return PyErr_Format(PyExc_RuntimeError, "PCRE2 match error %d", rc);
    PCRE2_SPTR mark = pcre2_get_mark(re->md);
    return mark ? PyLong_FromString((const char *)mark, NULL, 10) : PyLong_FromLong(rc - 1);
}

static PyMethodDef Body_methods[] = {
    {"match", (PyCFunction)Body_match, METH_O, "match(text: bytes) -> marker group or None"},
    {NULL},
};

static PyObject *Body_get_fallback(BodyObject *self, void *closure)
{
    return PyBool_FromLong(self->body.fallback);
}

static PyGetSetDef Body_getset[] = {
    {"jit", (getter)Body_get_jit, NULL, "the pattern was JIT-compiled", NULL},
    {"fallback", (getter)Body_get_fallback, NULL, "its lines go to the Python parser", NULL},
    {NULL},
};

static PyTypeObject Body_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "postfix_diag._core.Body",
    .tp_basicsize = sizeof(BodyObject),
    .tp_dealloc = (destructor)Body_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)Body_traverse,
    .tp_clear = (inquiry)Body_clear,
    .tp_doc = "One body matcher of the grammar, compiled with PCRE2.",
    .tp_new = Body_new,
    .tp_getset = Body_getset,
    .tp_methods = Body_methods,
};

#define BODY_OF(b) ((BodyObject *)((char *)(b) - offsetof(BodyObject, body)))

/* ---------------------------------------------------------------- Parser */

typedef struct {
    unsigned char key[CACHE_KEY];
    size_t len;
    PyObject *owner; /* the YearGuesser the value belongs to (classic cache) */
    PyObject *value;
} cache_t;

typedef struct {
    PyObject_HEAD
    pd_ctx ctx;
    int ready;
    PyObject *fallback;      /* parse.py's parse_line */
    PyObject *split_tag;     /* tag -> (instance, service, program, is_postfix) */
    PyObject *body_for;      /* (program, severity) -> Body */
    PyObject *iso_epoch;     /* parse.iso_epoch */
    PyObject *year_guesser;  /* parse.YearGuesser */
    PyObject *year;          /* Parser.year */
    PyObject *event_type;
    PyObject *access_kinds;  /* events.ACCESS_KINDS */
    PyObject *access_other, *unrecognized, *foreign, *no_rule_reason;
    PyObject *format_names;  /* tuple of str */
    PyObject *severities;    /* tuple of 5 str */
    PyObject *s_epoch, *s_reason, *s_kind, *s_action, *s_reject, *s_qid, *s_string;
    Py_ssize_t slot_offset[N_EVENT_SLOTS]; /* 0: build events by calling event_type */
    cache_t classic, iso, outer, host;
    unsigned long long counts[4]; /* lines: fallback, foreign, no rule, matched */
    int light;               /* Parser(select=...): light events, lines of other kinds counted */
    PyObject *convert;       /* selection.Selection.convert, for the Python parser's events */
    PyObject *skipped;       /* {selection key: lines} */
    PyObject *parser_kinds;  /* {parser-made kind: (Fields type, names)} that are selected */
    PyObject *one;
} ParserObject;

static PyTypeObject Parser_Type;

static void cache_clear(cache_t *c)
{
    Py_CLEAR(c->owner);
    Py_CLEAR(c->value);
    c->len = 0;
}

static int resolve_tag(void *ud, pd_tag *t)
{
    ParserObject *p = ud;
    PyObject *tag = PyUnicode_DecodeASCII((const char *)t->key, (Py_ssize_t)t->keylen, NULL);
    if (tag == NULL)
        return -1;
    PyObject *res = PyObject_CallOneArg(p->split_tag, tag);
    Py_DECREF(tag);
    if (res == NULL)
        return -1;
    if (!PyTuple_Check(res) || PyTuple_GET_SIZE(res) != 4) {
        Py_DECREF(res);
        PyErr_SetString(PyExc_TypeError, "split_tag must return (instance, service, program, is_postfix)");
        return -1;
    }
    int is_postfix = PyObject_IsTrue(PyTuple_GET_ITEM(res, 3));
    if (is_postfix < 0) {
        Py_DECREF(res);
        return -1;
    }
    t->is_postfix = is_postfix;
    t->user = res;
    return 0;
}

static void release_tag(void *ud, pd_tag *t)
{
    Py_CLEAR(*(PyObject **)&t->user);
    for (int i = 0; i < PD_SEVERITIES; i++) {
        if (t->body[i]) {
            Py_DECREF(BODY_OF(t->body[i]));
            t->body[i] = NULL;
        }
    }
}

static pd_body *resolve_body(void *ud, pd_tag *t, int severity)
{
    ParserObject *p = ud;
    PyObject *program = PyTuple_GET_ITEM((PyObject *)t->user, 2);
    PyObject *res = PyObject_CallFunctionObjArgs(p->body_for, program, PyTuple_GET_ITEM(p->severities, severity), NULL);
    if (res == NULL)
        return NULL;
    if (!PyObject_TypeCheck(res, &Body_Type)) {
        Py_DECREF(res);
        PyErr_SetString(PyExc_TypeError, "body_for must return a _core.Body");
        return NULL;
    }
    return &((BodyObject *)res)->body; /* the tag keeps the reference */
}

static int Parser_traverse(ParserObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->fallback);
    Py_VISIT(self->split_tag);
    Py_VISIT(self->body_for);
    Py_VISIT(self->iso_epoch);
    Py_VISIT(self->year_guesser);
    Py_VISIT(self->year);
    Py_VISIT(self->event_type);
    Py_VISIT(self->access_kinds);
    Py_VISIT(self->classic.owner);
    /* the tag cache holds each tag's split tuple and its Body objects */
    if (self->ready && self->ctx.slots) {
        for (size_t i = 0; i < self->ctx.nslots; i++) {
            pd_tag *t = self->ctx.slots[i];
            if (t == NULL)
                continue;
            Py_VISIT((PyObject *)t->user);
            for (int k = 0; k < PD_SEVERITIES; k++)
                if (t->body[k])
                    Py_VISIT((PyObject *)BODY_OF(t->body[k]));
        }
    }
    Py_VISIT(self->convert);
    Py_VISIT(self->skipped);
    Py_VISIT(self->parser_kinds);
    return 0;
}

static int Parser_clear(ParserObject *self)
{
    if (self->ready)
        pd_ctx_clear_tags(&self->ctx);
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->split_tag);
    Py_CLEAR(self->body_for);
    Py_CLEAR(self->iso_epoch);
    Py_CLEAR(self->year_guesser);
    Py_CLEAR(self->year);
    Py_CLEAR(self->event_type);
    Py_CLEAR(self->access_kinds);
    cache_clear(&self->classic);
    cache_clear(&self->iso);
    cache_clear(&self->outer);
    cache_clear(&self->host);
    Py_CLEAR(self->convert);
    Py_CLEAR(self->skipped);
    Py_CLEAR(self->parser_kinds);
    return 0;
}

static void Parser_dealloc(ParserObject *self)
{
    PyObject_GC_UnTrack(self);
    if (self->ready)
        pd_ctx_free(&self->ctx);
    Parser_clear(self);
    Py_CLEAR(self->access_other);
    Py_CLEAR(self->unrecognized);
    Py_CLEAR(self->foreign);
    Py_CLEAR(self->no_rule_reason);
    Py_CLEAR(self->format_names);
    Py_CLEAR(self->severities);
    Py_CLEAR(self->s_epoch);
    Py_CLEAR(self->s_reason);
    Py_CLEAR(self->s_kind);
    Py_CLEAR(self->s_action);
    Py_CLEAR(self->s_reject);
    Py_CLEAR(self->s_qid);
    Py_CLEAR(self->s_string);
    Py_CLEAR(self->one);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Event slots, in Event.__init__'s argument order: their offsets let events be filled in place. */
static const char *EVENT_SLOTS[N_EVENT_SLOTS] = {
    "kind", "ts", "host", "instance", "service", "program", "pid", "severity",
    "qid", "text", "f", "file", "lineno", "line", "fmt",
};

static void find_slot_offsets(ParserObject *p, int direct)
{
    memset(p->slot_offset, 0, sizeof p->slot_offset);
    if (!direct || !PyType_Check(p->event_type))
        return;
    PyTypeObject *t = (PyTypeObject *)p->event_type;
    Py_ssize_t off[N_EVENT_SLOTS];
    for (int i = 0; i < N_EVENT_SLOTS; i++) {
        PyObject *d = PyDict_GetItemString(t->tp_dict, EVENT_SLOTS[i]);
        if (d == NULL || !PyObject_TypeCheck(d, &PyMemberDescr_Type))
            return;
        PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
        if (m->type != T_OBJECT_EX || (m->flags & READONLY))
            return;
        off[i] = m->offset;
    }
    memcpy(p->slot_offset, off, sizeof off);
}

/* Parser(formats, max_line, max_tags, fallback, split_tag, body_for, iso_epoch, year_guesser,
 *        year, event_type, access_kinds, access_other, unrecognized, foreign, severities,
 *        direct_slots=True, select=None)
 * select: (convert, skipped dict, {parser-made kind: (Fields type, names)}) for light events
 * formats: ((pattern bytes, ts, host, tag, pid, body, outer, mode, name), ...) */
static PyObject *Parser_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *formats, *fallback, *split_tag, *body_for, *iso_epoch, *year_guesser, *year, *event_type;
    PyObject *access_kinds, *access_other, *unrecognized, *foreign, *severities;
    PyObject *select = Py_None, *convert = NULL, *skipped = NULL, *parser_kinds = NULL;
    Py_ssize_t max_line, max_tags;
    int direct = 1;
    if (!PyArg_ParseTuple(args, "O!nnOOOOOOOO!UUUO!|pO", &PyTuple_Type, &formats, &max_line, &max_tags, &fallback,
                          &split_tag, &body_for, &iso_epoch, &year_guesser, &year, &event_type, &PyDict_Type,
                          &access_kinds, &access_other, &unrecognized, &foreign, &PyTuple_Type, &severities,
                          &direct, &select))
        return NULL;
    if (select != Py_None && !PyArg_ParseTuple(select, "OO!O!", &convert, &PyDict_Type, &skipped, &PyDict_Type,
                                               &parser_kinds))
        return NULL;
    if (PyTuple_GET_SIZE(severities) != PD_SEVERITIES || max_line < 0 || max_tags <= 0) {
        PyErr_SetString(PyExc_ValueError, "bad severities, max_line or max_tags");
        return NULL;
    }
    Py_ssize_t nf = PyTuple_GET_SIZE(formats);
    ParserObject *self = (ParserObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    if (pd_ctx_init(&self->ctx, (int)nf, (size_t)max_line, (size_t)max_tags) < 0) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    self->ready = 1;
    self->ctx.resolve_tag = resolve_tag;
    self->ctx.release_tag = release_tag;
    self->ctx.resolve_body = resolve_body;
    self->ctx.resolve_rule = resolve_rule;
    self->ctx.ud = self;
    self->format_names = PyTuple_New(nf);
    if (self->format_names == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nf; i++) {
        PyObject *spec = PyTuple_GET_ITEM(formats, i), *pattern, *name;
        pd_format *f = &self->ctx.formats[i];
        if (!PyTuple_Check(spec) ||
            !PyArg_ParseTuple(spec, "O!iiiiiiiU", &PyBytes_Type, &pattern, &f->ts, &f->host, &f->tag, &f->pid,
                              &f->body, &f->outer, &f->mode, &name)) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "formats must be tuples");
            Py_DECREF(self);
            return NULL;
        }
        char err[320];
        if (pd_regex_compile(&self->ctx, &f->re, PyBytes_AS_STRING(pattern), (size_t)PyBytes_GET_SIZE(pattern), err,
                             sizeof err) < 0) {
            PyErr_Format(PyExc_ValueError, "envelope format %U: %s", name, err);
            Py_DECREF(self);
            return NULL;
        }
        int gmax = (int)f->re.groups;
        if (f->ts > gmax || f->host > gmax || f->tag > gmax || f->pid > gmax || f->body > gmax || f->outer > gmax ||
            f->mode < MODE_NO_TS || f->mode > MODE_OTHER) {
            PyErr_Format(PyExc_ValueError, "envelope format %U: group or mode out of range", name);
            Py_DECREF(self);
            return NULL;
        }
        PyTuple_SET_ITEM(self->format_names, i, Py_NewRef(name));
    }
    self->fallback = Py_NewRef(fallback);
    self->split_tag = Py_NewRef(split_tag);
    self->body_for = Py_NewRef(body_for);
    self->iso_epoch = Py_NewRef(iso_epoch);
    self->year_guesser = Py_NewRef(year_guesser);
    self->year = Py_NewRef(year);
    self->event_type = Py_NewRef(event_type);
    self->access_kinds = Py_NewRef(access_kinds);
    self->access_other = Py_NewRef(access_other);
    self->unrecognized = Py_NewRef(unrecognized);
    self->foreign = Py_NewRef(foreign);
    self->severities = Py_NewRef(severities);
    self->light = select != Py_None;
    self->convert = Py_XNewRef(convert);
    self->skipped = Py_XNewRef(skipped);
    self->parser_kinds = Py_XNewRef(parser_kinds);
    self->one = PyLong_FromLong(1);
    self->no_rule_reason = PyUnicode_InternFromString("no grammar rule");
    self->s_epoch = PyUnicode_InternFromString("epoch");
    self->s_reason = PyUnicode_InternFromString("reason");
    self->s_kind = PyUnicode_InternFromString("kind");
    self->s_action = PyUnicode_InternFromString("action");
    self->s_reject = PyUnicode_InternFromString("reject");
    self->s_qid = PyUnicode_InternFromString("qid");
    self->s_string = PyUnicode_InternFromString("<string>");
    if (!self->no_rule_reason || !self->s_epoch || !self->s_reason || !self->s_kind || !self->s_action ||
        !self->s_reject || !self->s_qid || !self->s_string) {
        Py_DECREF(self);
        return NULL;
    }
    find_slot_offsets(self, direct);
    return (PyObject *)self;
}

/* -- values ------------------------------------------------------------------------------------ */

static inline PyObject *substr(PyObject *line, size_t a, size_t b)
{
    return PyUnicode_Substring(line, (Py_ssize_t)a, (Py_ssize_t)b);
}

static int all_digits(const unsigned char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* int(text) of at most INT_FAST_DIGITS ASCII digits (longer ones go through int()'s own path). */
static PyObject *int_of_digits(const unsigned char *s, size_t n)
{
    long long v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return PyLong_FromLongLong(v);
}

/* conv(value) as parse.py applies it: the converted value, or the value itself when the
 * converter raises ValueError. New reference, NULL on any other error. */
static PyObject *convert(PyObject *value, int conv, PyObject *fn)
{
    PyObject *out;
    if (conv == CONV_INT && PyUnicode_CheckExact(value))
        out = PyLong_FromUnicodeObject(value, 10);
    else if (conv == CONV_FLOAT && PyUnicode_CheckExact(value))
        out = PyFloat_FromString(value);
    else
        out = PyObject_CallOneArg(fn, value);
    if (out == NULL && PyErr_ExceptionMatches(PyExc_ValueError)) {
        PyErr_Clear();
        return Py_NewRef(value);
    }
    return out;
}

/* One capture's value, converted (simple rules). */
static PyObject *capture_value(PyObject *line, const unsigned char *s, size_t a, size_t b, int conv, PyObject *fn)
{
    size_t n = b - a;
    if (conv == CONV_INT && n <= INT_FAST_DIGITS && all_digits(s + a, n))
        return int_of_digits(s + a, n);
    if (conv == CONV_FLOAT && n < FLOAT_FAST_CHARS && n > 0) {
        /* [0-9]+(\.[0-9]+)? goes straight to the function float() ends in */
        size_t i = 0, dot = 0;
        while (i < n && s[a + i] >= '0' && s[a + i] <= '9')
            i++;
        if (i > 0 && i < n && s[a + i] == '.') {
            dot = ++i;
            while (i < n && s[a + i] >= '0' && s[a + i] <= '9')
                i++;
        }
        if (i == n && (dot == 0 || dot < n)) {
            char buf[FLOAT_FAST_CHARS];
            char *end;
            memcpy(buf, s + a, n);
            buf[n] = 0;
            double d = PyOS_string_to_double(buf, &end, NULL);
            if (d == -1.0 && PyErr_Occurred())
                return NULL;
            if (end == buf + n)
                return PyFloat_FromDouble(d);
        }
    }
    PyObject *str = substr(line, a, b);
    if (str == NULL || conv == CONV_NONE)
        return str;
    PyObject *v = convert(str, conv, fn);
    Py_DECREF(str);
    return v;
}

/* The fields dict of a matched rule, exactly as parse.py builds it. */
static PyObject *build_fields(PyObject *line, const unsigned char *s, const pd_line *ln, const rule_t *r)
{
    PyObject *fields = PyDict_New();
    if (fields == NULL)
        return NULL;
    size_t base = ln->text.start;
    for (Py_ssize_t i = 0; i < r->n; i++) {
        uint32_t g = r->groups[i];
        if ((int)g >= ln->ovpairs || ln->ov[2 * g] == PCRE2_UNSET)
            continue; /* parse.py drops fields whose group did not take part */
        size_t a = base + ln->ov[2 * g], b = base + ln->ov[2 * g + 1];
        PyObject *v = r->simple ? capture_value(line, s, a, b, r->conv[i], r->convfn[i]) : substr(line, a, b);
        if (v == NULL || PyDict_SetItem(fields, r->names[i], v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(fields);
            return NULL;
        }
        Py_DECREF(v);
    }
    if (!r->simple) { /* conversions by name, after the dict is built (duplicate names) */
        Py_ssize_t nc = PyTuple_GET_SIZE(r->conversions);
        for (Py_ssize_t i = 0; i < nc; i++) {
            PyObject *pair = PyTuple_GET_ITEM(r->conversions, i);
            PyObject *key = PyTuple_GET_ITEM(pair, 0), *fn = PyTuple_GET_ITEM(pair, 1);
            PyObject *v = PyDict_GetItemWithError(fields, key);
            if (v == NULL) {
                if (PyErr_Occurred()) {
                    Py_DECREF(fields);
                    return NULL;
                }
                continue;
            }
            int conv = fn == (PyObject *)&PyLong_Type ? CONV_INT : fn == (PyObject *)&PyFloat_Type ? CONV_FLOAT : CONV_CALL;
            Py_INCREF(v);
            PyObject *nv = convert(v, conv, fn);
            Py_DECREF(v);
            if (nv == NULL || PyDict_SetItem(fields, key, nv) < 0) {
                Py_XDECREF(nv);
                Py_DECREF(fields);
                return NULL;
            }
            Py_DECREF(nv);
        }
    }
    return fields;
}

static int cache_hit(const cache_t *c, PyObject *owner, const unsigned char *s, size_t n)
{
    return c->value != NULL && c->owner == owner && c->len == n && memcmp(c->key, s, n) == 0;
}

static void cache_put(cache_t *c, PyObject *owner, const unsigned char *s, size_t n, PyObject *value)
{
    cache_clear(c);
    if (n > CACHE_KEY)
        return;
    memcpy(c->key, s, n);
    c->len = n;
    c->owner = Py_XNewRef(owner);
    c->value = Py_NewRef(value);
}

/* years.epoch(ts) (a fresh YearGuesser(year, None) when years is None). Remembers the last
 * stamp of one guesser: the same stamp twice in a row gets the same value from epoch(). */
static PyObject *classic_epoch(ParserObject *p, PyObject *years, PyObject *line, const unsigned char *s, pd_span sp)
{
    size_t n = sp.end - sp.start;
    if (years != Py_None && cache_hit(&p->classic, years, s + sp.start, n))
        return Py_NewRef(p->classic.value);
    PyObject *ts = substr(line, sp.start, sp.end);
    if (ts == NULL)
        return NULL;
    PyObject *guesser = years;
    if (years == Py_None) {
        guesser = PyObject_CallFunctionObjArgs(p->year_guesser, p->year, Py_None, NULL);
        if (guesser == NULL) {
            Py_DECREF(ts);
            return NULL;
        }
    } else {
        Py_INCREF(guesser);
    }
    PyObject *v = PyObject_CallMethodOneArg(guesser, p->s_epoch, ts);
    Py_DECREF(guesser);
    Py_DECREF(ts);
    if (v != NULL && years != Py_None)
        cache_put(&p->classic, years, s + sp.start, n, v);
    return v;
}

/* iso_epoch(ts) -> (value, name); a pure function, remembered for the last stamp. */
static PyObject *iso_pair(ParserObject *p, cache_t *c, PyObject *line, const unsigned char *s, pd_span sp)
{
    size_t n = sp.end - sp.start;
    if (cache_hit(c, NULL, s + sp.start, n))
        return Py_NewRef(c->value);
    PyObject *ts = substr(line, sp.start, sp.end);
    if (ts == NULL)
        return NULL;
    PyObject *v = PyObject_CallOneArg(p->iso_epoch, ts);
    Py_DECREF(ts);
    if (v == NULL)
        return NULL;
    if (!PyTuple_Check(v) || PyTuple_GET_SIZE(v) != 2) {
        Py_DECREF(v);
        PyErr_SetString(PyExc_TypeError, "iso_epoch must return (value, name)");
        return NULL;
    }
    cache_put(c, NULL, s + sp.start, n, v);
    return v;
}

/* The host name: the same object while consecutive lines name the same host. */
static PyObject *host_of(ParserObject *p, PyObject *line, const unsigned char *s, pd_span sp)
{
    if (!sp.set)
        Py_RETURN_NONE;
    size_t n = sp.end - sp.start;
    if (cache_hit(&p->host, NULL, s + sp.start, n))
        return Py_NewRef(p->host.value);
    PyObject *h = substr(line, sp.start, sp.end);
    if (h != NULL)
        cache_put(&p->host, NULL, s + sp.start, n, h);
    return h;
}

/* An Event from 15 new references (stolen, also on failure). */
static PyObject *make_event(ParserObject *p, PyObject **a)
{
    PyObject *ev;
    if (p->slot_offset[0]) {
        PyTypeObject *t = (PyTypeObject *)p->event_type;
        ev = t->tp_alloc(t, 0);
        if (ev != NULL) {
            for (int i = 0; i < N_EVENT_SLOTS; i++)
                *(PyObject **)((char *)ev + p->slot_offset[i]) = a[i];
            /* An event holds strings, numbers and a flat dict or tuple of them: it cannot be part
             * of a reference cycle, so the cyclic collector need not scan the millions there are. */
            PyObject_GC_UnTrack(ev);
            return ev;
        }
    } else {
        ev = PyObject_Vectorcall(p->event_type, a, N_EVENT_SLOTS, NULL);
    }
    for (int i = 0; i < N_EVENT_SLOTS; i++)
        Py_XDECREF(a[i]);
    return ev;
}

static PyObject *call_fallback(ParserObject *p, PyObject *line, PyObject *file, PyObject *lineno, PyObject *years)
{
    /* the Python parser may move a year guesser on: forget what was remembered of it */
    cache_clear(&p->classic);
    p->counts[0]++;
    PyObject *args[4] = {line, file, lineno, years};
    return PyObject_Vectorcall(p->fallback, args, 4, NULL);
}

/* A Fields tuple (of type ftype) of the declared names' values in a fields dict. */
static PyObject *dict_to_fields(PyObject *fields, PyObject *ftype, PyObject *fnames)
{
    Py_ssize_t n = PyTuple_GET_SIZE(fnames);
    PyObject *t = ((PyTypeObject *)ftype)->tp_alloc((PyTypeObject *)ftype, n);
    if (t == NULL)
        return NULL;
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *v = PyDict_GetItemWithError(fields, PyTuple_GET_ITEM(fnames, k));
        if (v == NULL && PyErr_Occurred()) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, k, Py_NewRef(v ? v : Py_None));
    }
    return t;
}

/* Light fields of a simple rule read straight from the captures (no dict): the declared
 * fields, the qid, and for reject rules the folded kind and action. 0, or -1 on error. */
static int light_fields(ParserObject *p, PyObject *line, const unsigned char *s, const pd_line *ln, const rule_t *r,
                        PyObject **out_f, PyObject **out_qid, PyObject **out_kind)
{
    PyObject *t = ((PyTypeObject *)r->ftype)->tp_alloc((PyTypeObject *)r->ftype, r->nout);
    PyObject *qid = NULL, *kindv = NULL, *actionv = NULL;
    if (t == NULL)
        return -1;
    size_t base = ln->text.start;
    for (Py_ssize_t i = 0; i < r->n; i++) {
        uint32_t g = r->groups[i];
        int role = r->role[i] & (r->is_reject ? (ROLE_QID | ROLE_KIND | ROLE_ACTION) : ROLE_QID);
        if ((r->pos[i] < 0 && !role) || (int)g >= ln->ovpairs || ln->ov[2 * g] == PCRE2_UNSET)
            continue;
        PyObject *v = capture_value(line, s, base + ln->ov[2 * g], base + ln->ov[2 * g + 1], r->conv[i], r->convfn[i]);
        if (v == NULL)
            goto fail;
        /* a name captured twice: the last capture that took part wins, as in parse.py's dict */
        if (r->pos[i] >= 0) {
            PyObject *old = PyTuple_GET_ITEM(t, r->pos[i]);
            PyTuple_SET_ITEM(t, r->pos[i], Py_NewRef(v));
            Py_XDECREF(old);
        }
        if (role & ROLE_QID)
            Py_XSETREF(qid, Py_NewRef(v));
        if (role & ROLE_KIND)
            Py_XSETREF(kindv, Py_NewRef(v));
        if (role & ROLE_ACTION)
            Py_XSETREF(actionv, Py_NewRef(v));
        Py_DECREF(v);
    }
    PyObject *kind = Py_NewRef(r->kind);
    if (r->is_reject) { /* action = fields.pop("kind", None) or fields.get("action", "reject") */
        int truth = kindv ? PyObject_IsTrue(kindv) : 0;
        if (truth < 0) {
            Py_DECREF(kind);
            goto fail;
        }
        PyObject *action = truth ? kindv : actionv ? actionv : p->s_reject;
        for (Py_ssize_t k = 0; k < r->nout; k++) {
            if (PyUnicode_Compare(PyTuple_GET_ITEM(r->fnames, k), p->s_action) == 0) {
                PyObject *old = PyTuple_GET_ITEM(t, k);
                PyTuple_SET_ITEM(t, k, Py_NewRef(action));
                Py_XDECREF(old);
            }
        }
        PyObject *folded = PyDict_GetItemWithError(p->access_kinds, action);
        if (folded == NULL && PyErr_Occurred()) {
            Py_DECREF(kind);
            goto fail;
        }
        Py_SETREF(kind, Py_NewRef(folded ? folded : p->access_other));
    }
    for (Py_ssize_t k = 0; k < r->nout; k++)
        if (PyTuple_GET_ITEM(t, k) == NULL)
            PyTuple_SET_ITEM(t, k, Py_NewRef(Py_None));
    Py_XDECREF(kindv);
    Py_XDECREF(actionv);
    *out_f = t;
    *out_qid = qid ? qid : Py_NewRef(Py_None);
    *out_kind = kind;
    return 0;
fail:
    for (Py_ssize_t k = 0; k < r->nout; k++)
        if (PyTuple_GET_ITEM(t, k) == NULL)
            PyTuple_SET_ITEM(t, k, Py_NewRef(Py_None));
    Py_DECREF(t);
    Py_XDECREF(qid);
    Py_XDECREF(kindv);
    Py_XDECREF(actionv);
    return -1;
}

/* Count a line of a kind no consumer selected: skipped[key] += 1. */
static int count_skipped(ParserObject *p, PyObject *key)
{
    PyObject *n = PyDict_GetItemWithError(p->skipped, key);
    if (n == NULL && PyErr_Occurred())
        return -1;
    PyObject *m = n ? PyNumber_Add(n, p->one) : Py_NewRef(p->one);
    if (m == NULL)
        return -1;
    int rc = PyDict_SetItem(p->skipped, key, m);
    Py_DECREF(m);
    return rc;
}

/* The full event of a matched rule: fields dict, access-kind folding, qid. */
static int full_fields(ParserObject *p, PyObject *line, const unsigned char *s, const pd_line *ln, const rule_t *r,
                       PyObject **out_f, PyObject **out_qid, PyObject **out_kind)
{
    PyObject *fields = build_fields(line, s, ln, r), *kind = NULL, *qid = NULL, *popped = NULL, *action = NULL;
    if (fields == NULL)
        return -1;
    kind = Py_NewRef(r->kind);
    if (r->is_reject) {
        /* action = fields.pop("kind", None) or fields.get("action", "reject") */
        popped = PyDict_GetItemWithError(fields, p->s_kind);
        if (popped == NULL && PyErr_Occurred())
            goto fail;
        if (popped != NULL) {
            Py_INCREF(popped);
            if (PyDict_DelItem(fields, p->s_kind) < 0)
                goto fail;
        }
        int truth = popped ? PyObject_IsTrue(popped) : 0;
        if (truth < 0)
            goto fail;
        if (truth) {
            action = Py_NewRef(popped);
        } else {
            action = PyDict_GetItemWithError(fields, p->s_action);
            if (action == NULL && PyErr_Occurred())
                goto fail;
            action = Py_NewRef(action ? action : p->s_reject);
        }
        if (PyDict_SetItem(fields, p->s_action, action) < 0)
            goto fail;
        PyObject *folded = PyDict_GetItemWithError(p->access_kinds, action);
        if (folded == NULL && PyErr_Occurred())
            goto fail;
        Py_SETREF(kind, Py_NewRef(folded ? folded : p->access_other));
        Py_CLEAR(popped);
        Py_CLEAR(action);
    }
    /* qid = fields.pop("qid", None) */
    qid = PyDict_GetItemWithError(fields, p->s_qid);
    if (qid == NULL) {
        if (PyErr_Occurred())
            goto fail;
        qid = Py_NewRef(Py_None);
    } else {
        Py_INCREF(qid);
        if (PyDict_DelItem(fields, p->s_qid) < 0)
            goto fail;
    }
    if (r->ftype) { /* light event of a rule that is not simple: the dict's values, declared order */
        Py_SETREF(fields, dict_to_fields(fields, r->ftype, r->fnames));
        if (fields == NULL)
            goto fail;
    }
    *out_f = fields;
    *out_qid = qid;
    *out_kind = kind;
    return 0;
fail:
    Py_XDECREF(fields);
    Py_XDECREF(kind);
    Py_XDECREF(qid);
    Py_XDECREF(popped);
    Py_XDECREF(action);
    return -1;
}

/* The light Fields type and the selection key of a line the parser itself names. */
static PyObject *parser_kind_type(ParserObject *p, int st, int severity, PyObject **key)
{
    *key = st == PD_FOREIGN ? p->foreign : severity == 0 ? p->unrecognized : PyTuple_GET_ITEM(p->severities, severity);
    PyObject *entry = PyDict_GetItemWithError(p->parser_kinds, *key);
    return entry; /* (ftype, names) or NULL */
}

static PyObject *call_fallback_light(ParserObject *p, PyObject *line, PyObject *file, PyObject *lineno, PyObject *years)
{
    PyObject *ev = call_fallback(p, line, file, lineno, years);
    if (ev == NULL || p->convert == NULL)
        return ev;
    PyObject *args[2] = {ev, p->skipped};
    PyObject *out = PyObject_Vectorcall(p->convert, args, 2, NULL);
    Py_DECREF(ev);
    return out;
}

static PyObject *parse_one(ParserObject *p, PyObject *line, PyObject *file, PyObject *lineno, PyObject *years)
{
    if (!PyUnicode_CheckExact(line) || !PyUnicode_IS_READY(line) || !PyUnicode_IS_ASCII(line))
        return call_fallback_light(p, line, file, lineno, years);
    const unsigned char *s = PyUnicode_1BYTE_DATA(line);
    size_t len = (size_t)PyUnicode_GET_LENGTH(line);
    pd_line ln;
    int st = pd_scan(&p->ctx, s, len, &ln);
    if (st == PD_ERROR)
        return NULL;
    if (st == PD_FALLBACK)
        return call_fallback_light(p, line, file, lineno, years);
    const pd_format *f = &p->ctx.formats[ln.format];
    if ((f->mode != MODE_NO_TS && !ln.ts.set) || (f->mode == MODE_OUTER && !ln.outer.set))
        return call_fallback_light(p, line, file, lineno, years);
    p->counts[st]++;

    PyObject *name = PyTuple_GET_ITEM(p->format_names, ln.format);
    PyObject *ts = NULL, *host = NULL, *pid = NULL, *kind = NULL, *qid = NULL, *text = NULL, *fields = NULL;
    Py_INCREF(name);
    /* the timestamp first, of every line: a year guesser must see each line's month */
    switch (f->mode) {
    case MODE_NO_TS:
        ts = Py_NewRef(Py_None);
        host = f->host > 0 ? host_of(p, line, s, ln.host) : Py_NewRef(Py_None);
        if (host == NULL)
            goto fail;
        break;
    case MODE_CLASSIC:
        ts = classic_epoch(p, years, line, s, ln.ts);
        break;
    case MODE_OUTER: {
        PyObject *pair = iso_pair(p, &p->outer, line, s, ln.outer);
        if (pair != NULL) {
            ts = Py_NewRef(PyTuple_GET_ITEM(pair, 0));
            Py_DECREF(pair);
            if (ts == Py_None && years != Py_None) {
                Py_DECREF(ts);
                ts = classic_epoch(p, years, line, s, ln.ts);
            }
        }
        break;
    }
    default: { /* MODE_ISO names the ISO variant; other formats keep their own name */
        PyObject *pair = iso_pair(p, &p->iso, line, s, ln.ts);
        if (pair != NULL) {
            ts = Py_NewRef(PyTuple_GET_ITEM(pair, 0));
            if (f->mode == MODE_ISO)
                Py_SETREF(name, Py_NewRef(PyTuple_GET_ITEM(pair, 1)));
            Py_DECREF(pair);
        }
    }
    }
    if (ts == NULL)
        goto fail;

    PyObject *light = NULL; /* (ftype, names) of a parser kind, when selecting */
    if (p->light) {
        PyObject *key = NULL;
        int selected;
        if (st == PD_MATCH) {
            key = ((const rule_t *)ln.rule)->kind;
            selected = ((const rule_t *)ln.rule)->ftype != NULL;
        } else {
            light = parser_kind_type(p, st, ln.severity, &key);
            if (light == NULL && PyErr_Occurred())
                goto fail;
            selected = light != NULL;
        }
        if (!selected) {
            if (count_skipped(p, key) < 0)
                goto fail;
            Py_DECREF(name);
            Py_DECREF(ts);
            Py_XDECREF(host);
            Py_RETURN_NONE;
        }
    }
    if (host == NULL && (host = host_of(p, line, s, ln.host)) == NULL)
        goto fail;
    if (ln.pid.set && ln.pid.end - ln.pid.start <= INT_FAST_DIGITS &&
        all_digits(s + ln.pid.start, ln.pid.end - ln.pid.start)) { /* parse.MAX_PID_DIGITS */
        if ((pid = int_of_digits(s + ln.pid.start, ln.pid.end - ln.pid.start)) == NULL)
            goto fail;
    } else {
        pid = Py_NewRef(Py_None);
    }
    PyObject *split = (PyObject *)ln.tagent->user;
    PyObject *severity = PyTuple_GET_ITEM(p->severities, ln.severity);
    if ((text = substr(line, ln.text.start, ln.text.end)) == NULL)
        goto fail;

    if (st == PD_MATCH) {
        const rule_t *r = ln.rule;
        int rc = r->ftype && r->simple ? light_fields(p, line, s, &ln, r, &fields, &qid, &kind)
                                       : full_fields(p, line, s, &ln, r, &fields, &qid, &kind);
        if (rc < 0)
            goto fail;
    } else {
        qid = Py_NewRef(Py_None);
        fields = PyDict_New();
        if (fields == NULL)
            goto fail;
        if (st == PD_FOREIGN) {
            kind = Py_NewRef(p->foreign);
        } else if (ln.severity == 0) {
            kind = Py_NewRef(p->unrecognized);
            if (PyDict_SetItem(fields, p->s_reason, p->no_rule_reason) < 0)
                goto fail;
        } else {
            kind = Py_NewRef(severity);
        }
        if (light != NULL) {
            Py_SETREF(fields, dict_to_fields(fields, PyTuple_GET_ITEM(light, 0), PyTuple_GET_ITEM(light, 1)));
            if (fields == NULL)
                goto fail;
        }
    }
    PyObject *a[N_EVENT_SLOTS] = {
        kind, ts, host,
        Py_NewRef(PyTuple_GET_ITEM(split, 0)), Py_NewRef(PyTuple_GET_ITEM(split, 1)),
        Py_NewRef(PyTuple_GET_ITEM(split, 2)),
        pid, Py_NewRef(severity), qid, text, fields,
        Py_NewRef(file), Py_NewRef(lineno), Py_NewRef(line), name,
    };
    return make_event(p, a);

fail:
    Py_XDECREF(name);
    Py_XDECREF(ts);
    Py_XDECREF(host);
    Py_XDECREF(pid);
    Py_XDECREF(kind);
    Py_XDECREF(qid);
    Py_XDECREF(text);
    Py_XDECREF(fields);
    return NULL;
}

/* parse_line(line, file="<string>", lineno=0, years=None) -> Event */
static PyObject *Parser_parse_line(ParserObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *names[4] = {"line", "file", "lineno", "years"};
    PyObject *v[4] = {NULL, self->s_string, NULL, Py_None};
    PyObject *zero = NULL;
    if (nargs > 4) {
        PyErr_SetString(PyExc_TypeError, "parse_line() takes at most 4 arguments");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nargs; i++)
        v[i] = args[i];
    if (kwnames) {
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(kwnames); k++) {
            PyObject *kw = PyTuple_GET_ITEM(kwnames, k);
            int found = 0;
            for (int i = 0; i < 4; i++) {
                if (PyUnicode_CompareWithASCIIString(kw, names[i]) == 0) {
                    if (i < nargs) {
                        PyErr_Format(PyExc_TypeError, "parse_line() got multiple values for argument '%s'", names[i]);
                        return NULL;
                    }
                    v[i] = args[nargs + k];
                    found = 1;
                }
            }
            if (!found) {
                PyErr_Format(PyExc_TypeError, "parse_line() got an unexpected keyword argument '%U'", kw);
                return NULL;
            }
        }
    }
    if (v[0] == NULL) {
        PyErr_SetString(PyExc_TypeError, "parse_line() missing required argument 'line'");
        return NULL;
    }
    if (v[2] == NULL)
        v[2] = zero = PyLong_FromLong(0);
    PyObject *ev = parse_one(self, v[0], v[1], v[2], v[3]);
    Py_XDECREF(zero);
    return ev;
}

/* parse_block(lines, file, lineno, years) -> [Event]: lines[i] is line lineno + i; with select,
 * the lines of kinds not selected are left out (and counted). */
static PyObject *Parser_parse_block(ParserObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "parse_block(lines, file, lineno, years) takes 4 arguments");
        return NULL;
    }
    Py_ssize_t first = PyLong_AsSsize_t(args[2]);
    if (first == -1 && PyErr_Occurred())
        return NULL;
    PyObject *seq = PySequence_Fast(args[0], "parse_block() needs a sequence of lines");
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        Py_DECREF(seq);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *lineno = PyLong_FromSsize_t(first + i);
        if (lineno == NULL)
            goto fail;
        PyObject *ev = parse_one(self, PySequence_Fast_GET_ITEM(seq, i), args[1], lineno, args[3]);
        Py_DECREF(lineno);
        if (ev == NULL)
            goto fail;
        int rc = ev == Py_None ? 0 : PyList_Append(out, ev);
        Py_DECREF(ev);
        if (rc < 0)
            goto fail;
    }
    Py_DECREF(seq);
    return out;
fail:
    Py_DECREF(seq);
    Py_DECREF(out);
    return NULL;
}

static PyObject *Parser_stats(ParserObject *self, PyObject *unused)
{
    return Py_BuildValue("{sKsKsKsKsKsn}", "python", self->counts[0], "foreign", self->counts[1], "no_rule",
                         self->counts[2], "matched", self->counts[3], "pcre_errors",
                         (unsigned long long)self->ctx.pcre_errors, "tags", (Py_ssize_t)self->ctx.ntags);
}

static PyObject *Parser_direct(ParserObject *self, void *closure)
{
    return PyBool_FromLong(self->slot_offset[0] != 0);
}

static PyMethodDef Parser_methods[] = {
    {"parse_line", (PyCFunction)(void (*)(void))Parser_parse_line, METH_FASTCALL | METH_KEYWORDS,
     "parse_line(line, file='<string>', lineno=0, years=None) -> Event"},
    {"parse_block", (PyCFunction)(void (*)(void))Parser_parse_block, METH_FASTCALL,
     "parse_block(lines, file, lineno, years) -> [Event] (lines of kinds not selected left out)"},
    {"stats", (PyCFunction)Parser_stats, METH_NOARGS, "lines by outcome (python = left to the Python parser)"},
    {NULL},
};

static PyGetSetDef Parser_getset[] = {
    {"direct_slots", (getter)Parser_direct, NULL, "events are filled slot by slot (not through __init__)", NULL},
    {NULL},
};

static PyTypeObject Parser_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "postfix_diag._core.Parser",
    .tp_basicsize = sizeof(ParserObject),
    .tp_dealloc = (destructor)Parser_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The compiled line parser (see postfix_diag/core.py).",
    .tp_traverse = (traverseproc)Parser_traverse,
    .tp_clear = (inquiry)Parser_clear,
    .tp_new = Parser_new,
    .tp_methods = Parser_methods,
    .tp_getset = Parser_getset,
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT, "postfix_diag._core",
    "The compiled parse core (PCRE2 with JIT); see postfix_diag/core.py.", -1, NULL,
};

PyMODINIT_FUNC PyInit__core(void)
{
    g_cctx = pcre2_compile_context_create(NULL);
    if (g_cctx == NULL)
        return PyErr_NoMemory();
    pcre2_set_newline(g_cctx, PCRE2_NEWLINE_LF);
    if (PyType_Ready(&Body_Type) < 0 || PyType_Ready(&Parser_Type) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&core_module);
    if (m == NULL)
        return NULL;
    char version[64];
    pcre2_config(PCRE2_CONFIG_VERSION, version);
    uint32_t jit = 0;
    pcre2_config(PCRE2_CONFIG_JIT, &jit);
    if (PyModule_AddObjectRef(m, "Body", (PyObject *)&Body_Type) < 0 ||
        PyModule_AddObjectRef(m, "Parser", (PyObject *)&Parser_Type) < 0 ||
        PyModule_AddStringConstant(m, "PCRE2_VERSION", version) < 0 ||
        PyModule_AddIntConstant(m, "JIT", (long)jit) < 0 ||
        PyModule_AddIntConstant(m, "MAX_PID_DIGITS", INT_FAST_DIGITS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
