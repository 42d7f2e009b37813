/* libFuzzer harness of the compiled parse core (pd_core.c), for AddressSanitizer and UBSan.
 *
 * Built and run by tools/fuzz/run.py (make fuzz; a bounded run in make test). It loads the real
 * grammar, translated as the extension gets it (tools/fuzz/spec.py writes FUZZ_SPEC), and scans
 * every line of each input, plus the whole input as one line, each from a heap buffer of exactly
 * its length (so any read past a line is an ASan report). Every span and capture the core returns
 * is checked to lie inside the line and read. Each line is scanned twice, by JIT-compiled and by
 * interpreted patterns: both must agree on the outcome and on every offset.
 */
#include "pd_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TAGS 64 /* small, so that the tag cache is cleared often */

typedef struct {
    uint32_t n;
    uint32_t *groups;
} rule_t;

typedef struct {
    char program[64];
    int severity;
    int body;
} map_t;

static char **known;
static int nknown;
static pd_body *bodies[2]; /* [0] JIT, [1] interpreted */
static int nbodies;
static map_t *maps;
static int nmaps;
static pd_ctx ctx[2];
static rule_t **rule_sets;
static unsigned *rule_counts;
static volatile unsigned long sink;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_core: %s\n", what);
    abort();
}

static char *read_pattern(FILE *f, size_t len)
{
    char *p = malloc(len + 1);
    if (p == NULL || fgetc(f) != '\n' || fread(p, 1, len, f) != len || fgetc(f) != '\n')
        die("spec: truncated pattern");
    p[len] = 0;
    return p;
}

static int is_known(const char *s, size_t n)
{
    for (int i = 0; i < nknown; i++)
        if (strlen(known[i]) == n && memcmp(known[i], s, n) == 0)
            return 1;
    return 0;
}

/* parse.Parser._split_tag, enough of it: the program is the last '/' part */
static int resolve_tag(void *ud, pd_tag *t)
{
    (void)ud;
    const char *s = (const char *)t->key;
    size_t n = t->keylen, start = n, end = n, parts = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && s[i] == '/')
            i++;
        size_t j = i;
        while (j < n && s[j] != '/')
            j++;
        if (j > i) {
            parts++;
            start = i;
            end = j;
        }
        i = j;
    }
    size_t first = 0;
    while (first < n && s[first] == '/')
        first++;
    int postfix_instance = n - first >= 7 && memcmp(s + first, "postfix", 7) == 0;
    t->is_postfix = parts > 0 && is_known(s + start, end - start) && (postfix_instance || parts >= 2);
    if (parts == 1 && postfix_instance && !is_known(s + start, end - start))
        t->is_postfix = 1;
    t->user = NULL;
    return 0;
}

static void release_tag(void *ud, pd_tag *t)
{
    (void)ud;
    (void)t;
}

static pd_body *resolve_body(void *ud, pd_tag *t, int severity)
{
    int which = ud == &ctx[1];
    const char *s = (const char *)t->key;
    size_t n = t->keylen, start = n, end = n;
    for (size_t i = 0; i < n; i++)
        if (s[i] != '/' && (i == 0 || s[i - 1] == '/'))
            start = i;
    for (end = start; end < n && s[end] != '/'; end++)
        ;
    int any = -1;
    for (int i = 0; i < nmaps; i++) {
        if (maps[i].severity != severity)
            continue;
        if (strcmp(maps[i].program, "<any>") == 0)
            any = maps[i].body;
        if (start < n && strlen(maps[i].program) == end - start && memcmp(maps[i].program, s + start, end - start) == 0)
            return &bodies[which][maps[i].body];
    }
    if (any < 0)
        die("spec: no <any> body");
    return &bodies[which][any];
}

/* rules come ready from the spec: the core asks once per rule */
static int resolve_rule(void *ud, pd_body *b, uint32_t g)
{
    (void)ud;
    return b->rules[g] != NULL && b->rule_re[g].code != NULL ? 0 : 1;
}

static int severity_index(const char *s)
{
    static const char *names[] = {"info", "warning", "error", "fatal", "panic"};
    for (int i = 0; i < PD_SEVERITIES; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    die("spec: unknown severity");
    return 0;
}

static void load_spec(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        die("cannot open FUZZ_SPEC");
    int nformats;
    size_t max_line;
    char err[320];
    if (fscanf(f, "max_line %zu\nformats %d\n", &max_line, &nformats) != 2)
        die("spec: header");
    for (int c = 0; c < 2; c++) {
        if (pd_ctx_init(&ctx[c], nformats, max_line, MAX_TAGS) < 0)
            die("out of memory");
        ctx[c].resolve_tag = resolve_tag;
        ctx[c].release_tag = release_tag;
        ctx[c].resolve_body = resolve_body;
        ctx[c].resolve_rule = resolve_rule;
        ctx[c].ud = &ctx[c];
    }
    for (int i = 0; i < nformats; i++) {
        pd_format fm;
        size_t len;
        if (fscanf(f, " format %d %d %d %d %d %d %d %zu", &fm.ts, &fm.host, &fm.tag, &fm.pid, &fm.body, &fm.outer,
                   &fm.mode, &len) != 8)
            die("spec: format");
        char *pattern = read_pattern(f, len);
        for (int c = 0; c < 2; c++) {
            pd_format *d = &ctx[c].formats[i];
            *d = fm;
            if (pd_regex_compile(&ctx[c], &d->re, pattern, len, err, sizeof err) < 0)
                die(err);
            if (c == 1)
                d->re.jit = 0;
        }
        free(pattern);
    }
    if (fscanf(f, " known %d\n", &nknown) != 1)
        die("spec: known");
    known = calloc((size_t)nknown, sizeof *known);
    for (int i = 0; i < nknown; i++) {
        char name[128];
        if (fscanf(f, "%127s\n", name) != 1)
            die("spec: known name");
        known[i] = strdup(name);
    }
    if (fscanf(f, " bodies %d\n", &nbodies) != 1)
        die("spec: bodies");
    bodies[0] = calloc((size_t)nbodies, sizeof(pd_body));
    bodies[1] = calloc((size_t)nbodies, sizeof(pd_body));
    rule_sets = calloc((size_t)nbodies, sizeof *rule_sets);
    rule_counts = calloc((size_t)nbodies, sizeof *rule_counts);
    for (int i = 0; i < nbodies; i++) {
        unsigned nrules;
        size_t len;
        if (fscanf(f, " body %u %zu", &nrules, &len) != 2)
            die("spec: body");
        char *pattern = read_pattern(f, len);
        rule_t *rules = calloc(nrules ? nrules : 1, sizeof *rules);
        rule_sets[i] = rules;
        rule_counts[i] = nrules;
        uint32_t *markers = calloc(nrules ? nrules : 1, sizeof *markers), maxm = 0;
        char **rule_patterns = calloc(nrules ? nrules : 1, sizeof *rule_patterns);
        size_t *rule_lens = calloc(nrules ? nrules : 1, sizeof *rule_lens);
        for (unsigned r = 0; r < nrules; r++) {
            if (fscanf(f, " rule %u %zu %u", &markers[r], &rule_lens[r], &rules[r].n) != 3)
                die("spec: rule");
            rules[r].groups = calloc(rules[r].n ? rules[r].n : 1, sizeof(uint32_t));
            for (uint32_t g = 0; g < rules[r].n; g++)
                if (fscanf(f, " %u", &rules[r].groups[g]) != 1)
                    die("spec: rule group");
            rule_patterns[r] = read_pattern(f, rule_lens[r]);
            if (markers[r] + 1 > maxm)
                maxm = markers[r] + 1;
        }
        for (int c = 0; c < 2; c++) {
            pd_body *b = &bodies[c][i];
            if (pd_body_init(b, maxm) < 0)
                die("out of memory");
            for (unsigned r = 0; r < nrules; r++) {
                b->rules[markers[r]] = &rules[r];
                if (pd_regex_compile(&ctx[c], &b->rule_re[markers[r]], rule_patterns[r], rule_lens[r], err,
                                     sizeof err) < 0)
                    die(err);
                if (c == 1)
                    b->rule_re[markers[r]].jit = 0;
            }
            if (len) {
                if (pd_regex_compile(&ctx[c], &b->re, pattern, len, err, sizeof err) < 0)
                    die(err);
                b->has_re = 1;
                if (c == 1)
                    b->re.jit = 0;
            }
        }
        for (unsigned r = 0; r < nrules; r++)
            free(rule_patterns[r]);
        free(rule_patterns);
        free(rule_lens);
        free(markers);
        free(pattern);
    }
    if (fscanf(f, " map %d\n", &nmaps) != 1)
        die("spec: map");
    maps = calloc((size_t)nmaps, sizeof *maps);
    for (int i = 0; i < nmaps; i++) {
        char sev[16];
        if (fscanf(f, "%63s %15s %d\n", maps[i].program, sev, &maps[i].body) != 3 || maps[i].body < 0 ||
            maps[i].body >= nbodies)
            die("spec: map entry");
        maps[i].severity = severity_index(sev);
    }
    fclose(f);
}

/* Everything freed at exit, so that LeakSanitizer checks the core's own frees (tags, formats). */
static void free_all(void)
{
    for (int c = 0; c < 2; c++) {
        pd_ctx_free(&ctx[c]);
        for (int i = 0; i < nbodies; i++)
            pd_body_free(&bodies[c][i]);
        free(bodies[c]);
    }
    for (int i = 0; i < nbodies; i++) {
        for (unsigned r = 0; r < rule_counts[i]; r++)
            free(rule_sets[i][r].groups);
        free(rule_sets[i]);
    }
    free(rule_sets);
    free(rule_counts);
    for (int i = 0; i < nknown; i++)
        free(known[i]);
    free(known);
    free(maps);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *spec = getenv("FUZZ_SPEC");
    if (spec == NULL)
        die("set FUZZ_SPEC to the file tools/fuzz/spec.py writes");
    load_spec(spec);
    atexit(free_all);
    return 0;
}

static void touch(const unsigned char *s, size_t len, pd_span sp)
{
    if (!sp.set)
        return;
    if (sp.start > sp.end || sp.end > len)
        die("span outside the line");
    unsigned long sum = 0;
    for (size_t i = sp.start; i < sp.end; i++)
        sum += s[i];
    sink += sum;
}

static void check(const unsigned char *s, size_t len, const pd_line *ln)
{
    if (ln->status == PD_FALLBACK || ln->status == PD_ERROR)
        return;
    touch(s, len, ln->ts);
    touch(s, len, ln->host);
    touch(s, len, ln->tag);
    touch(s, len, ln->pid);
    touch(s, len, ln->outer);
    touch(s, len, ln->body);
    touch(s, len, ln->text);
    if (ln->text.start < ln->body.start || ln->text.end != ln->body.end)
        die("text outside the body");
    if (ln->status != PD_MATCH)
        return;
    const rule_t *r = ln->rule;
    size_t tlen = ln->text.end - ln->text.start;
    for (uint32_t i = 0; i < r->n; i++) {
        uint32_t g = r->groups[i];
        if ((int)g >= ln->ovpairs || ln->ov[2 * g] == PCRE2_UNSET)
            continue;
        pd_span sp = {ln->text.start + ln->ov[2 * g], ln->text.start + ln->ov[2 * g + 1], 1};
        if (ln->ov[2 * g] > ln->ov[2 * g + 1] || ln->ov[2 * g + 1] > tlen)
            die("capture outside the text");
        touch(s, len, sp);
    }
}

static int same_span(pd_span a, pd_span b)
{
    return a.set == b.set && (!a.set || (a.start == b.start && a.end == b.end));
}

static void scan_line(const unsigned char *data, size_t len)
{
    unsigned char *s = malloc(len ? len : 1); /* exactly the line: a read past it is an ASan report */
    if (s == NULL)
        return;
    memcpy(s, data, len);
    pd_line a, b;
    int sa = pd_scan(&ctx[0], s, len, &a);
    check(s, len, &a);
    PCRE2_SIZE ov[2 * 256];
    int pairs = a.status == PD_MATCH ? (a.ovpairs < 256 ? a.ovpairs : 256) : 0;
    if (pairs)
        memcpy(ov, a.ov, sizeof(PCRE2_SIZE) * 2 * (size_t)pairs);
    int sb = pd_scan(&ctx[1], s, len, &b);
    check(s, len, &b);
    if (ctx[0].pcre_errors == 0 && ctx[1].pcre_errors == 0) {
        if (sa != sb)
            die("JIT and interpreter disagree on the outcome");
        if (sa > PD_FALLBACK &&
            (a.format != b.format || !same_span(a.ts, b.ts) || !same_span(a.host, b.host) ||
             !same_span(a.tag, b.tag) || !same_span(a.pid, b.pid) || !same_span(a.body, b.body) ||
             !same_span(a.text, b.text) || a.severity != b.severity))
            die("JIT and interpreter disagree on the envelope");
        if (sa == PD_MATCH) {
            if (a.marker != b.marker || a.ovpairs != b.ovpairs)
                die("JIT and interpreter disagree on the rule");
            if (memcmp(ov, b.ov, sizeof(PCRE2_SIZE) * 2 * (size_t)pairs) != 0)
                die("JIT and interpreter disagree on the captures");
        }
    }
    ctx[0].pcre_errors = ctx[1].pcre_errors = 0;
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t start = 0;
    for (size_t i = 0; i < size; i++) {
        if (data[i] == '\n') {
            scan_line(data + start, i - start);
            start = i + 1;
        }
    }
    if (start < size)
        scan_line(data + start, size - start);
    if (start > 0)
        scan_line(data, size); /* the whole input as one line, newlines and all */
    return 0;
}
