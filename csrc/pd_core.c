/* The compiled parse core without Python: see pd_core.h. */
#include "pd_core.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define PD_JIT_STACK_START (32 * 1024)
#define PD_JIT_STACK_MAX (8 * 1024 * 1024)

int pd_regex_compile(pd_ctx *ctx, pd_regex *re, const char *pattern, size_t len, char *err, size_t errlen)
{
    int code;
    PCRE2_SIZE offset;
    memset(re, 0, sizeof *re);
    re->code = pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_ANCHORED | PCRE2_DOTALL | PCRE2_NEVER_UTF | PCRE2_NEVER_UCP,
                             &code, &offset, ctx->cctx);
    if (re->code == NULL) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        if (err && errlen)
            snprintf(err, errlen, "PCRE2 compile error at offset %zu: %s", (size_t)offset, (char *)msg);
        return -1;
    }
    pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &re->groups);
    re->jit = pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0;
    re->md = pcre2_match_data_create_from_pattern(re->code, NULL);
    if (re->md == NULL) {
        pcre2_code_free(re->code);
        re->code = NULL;
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

void pd_regex_free(pd_regex *re)
{
    if (re->md)
        pcre2_match_data_free(re->md);
    if (re->code)
        pcre2_code_free(re->code);
    re->md = NULL;
    re->code = NULL;
}

/* > 0: match (1 + highest group set); PCRE2_ERROR_NOMATCH; other negative: error. */
static int match(pd_ctx *ctx, pd_regex *re, const unsigned char *s, size_t len)
{
    if (re->jit)
        return pcre2_jit_match(re->code, s, len, 0, 0, re->md, ctx->mctx);
    return pcre2_match(re->code, s, len, 0, 0, re->md, ctx->mctx);
}

int pd_ctx_init(pd_ctx *ctx, int nformats, size_t max_line, size_t max_tags)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->formats = calloc(nformats > 0 ? (size_t)nformats : 1, sizeof *ctx->formats);
    ctx->nformats = nformats;
    ctx->max_line = max_line;
    ctx->max_tags = max_tags;
    ctx->nslots = 16;
    while (ctx->nslots < max_tags * 2)
        ctx->nslots *= 2;
    ctx->slots = calloc(ctx->nslots, sizeof *ctx->slots);
    ctx->cctx = pcre2_compile_context_create(NULL);
    ctx->mctx = pcre2_match_context_create(NULL);
    ctx->jit_stack = pcre2_jit_stack_create(PD_JIT_STACK_START, PD_JIT_STACK_MAX, NULL);
    if (!ctx->formats || !ctx->slots || !ctx->cctx || !ctx->mctx || !ctx->jit_stack) {
        pd_ctx_free(ctx);
        return -1;
    }
    pcre2_set_newline(ctx->cctx, PCRE2_NEWLINE_LF);
    pcre2_jit_stack_assign(ctx->mctx, NULL, ctx->jit_stack);
    for (int i = 0; i < nformats; i++)
        ctx->formats[i].ts = ctx->formats[i].host = ctx->formats[i].tag = ctx->formats[i].pid =
            ctx->formats[i].body = ctx->formats[i].outer = -1;
    return 0;
}

void pd_ctx_clear_tags(pd_ctx *ctx)
{
    if (!ctx->slots)
        return;
    for (size_t i = 0; i < ctx->nslots; i++) {
        pd_tag *t = ctx->slots[i];
        if (t == NULL)
            continue;
        if (ctx->release_tag)
            ctx->release_tag(ctx->ud, t);
        free(t->key);
        free(t);
        ctx->slots[i] = NULL;
    }
    ctx->ntags = 0;
}

void pd_ctx_free(pd_ctx *ctx)
{
    pd_ctx_clear_tags(ctx);
    free(ctx->slots);
    ctx->slots = NULL;
    if (ctx->formats) {
        for (int i = 0; i < ctx->nformats; i++)
            pd_regex_free(&ctx->formats[i].re);
        free(ctx->formats);
        ctx->formats = NULL;
    }
    if (ctx->jit_stack)
        pcre2_jit_stack_free(ctx->jit_stack);
    if (ctx->mctx)
        pcre2_match_context_free(ctx->mctx);
    if (ctx->cctx)
        pcre2_compile_context_free(ctx->cctx);
    ctx->jit_stack = NULL;
    ctx->mctx = NULL;
    ctx->cctx = NULL;
}

int pd_body_init(pd_body *body, uint32_t nrules)
{
    memset(body, 0, sizeof *body);
    body->nrules = nrules;
    body->rules = calloc(nrules ? nrules : 1, sizeof *body->rules);
    body->rule_re = calloc(nrules ? nrules : 1, sizeof *body->rule_re);
    body->rule_state = calloc(nrules ? nrules : 1, 1);
    return body->rules && body->rule_re && body->rule_state ? 0 : -1;
}

void pd_body_free(pd_body *body)
{
    pd_regex_free(&body->re);
    if (body->rule_re)
        for (uint32_t i = 0; i < body->nrules; i++)
            pd_regex_free(&body->rule_re[i]);
    free(body->rules);
    free(body->rule_re);
    free(body->rule_state);
    body->rules = NULL;
    body->rule_re = NULL;
    body->rule_state = NULL;
    body->nrules = 0;
}

/* The marker of (*MARK:g) names: a decimal group number. */
static int mark_number(PCRE2_SPTR mark, uint32_t *out)
{
    if (mark == NULL || mark[0] == 0)
        return -1;
    uint32_t v = 0;
    for (const unsigned char *p = mark; *p; p++) {
        if (*p < '0' || *p > '9' || v > 100000)
            return -1;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 0;
}

static uint64_t hash_bytes(const unsigned char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* The cached entry of a tag, made (through resolve_tag) on first sight. NULL on error. */
static pd_tag *lookup_tag(pd_ctx *ctx, const unsigned char *s, size_t n)
{
    uint64_t h = hash_bytes(s, n);
    size_t mask = ctx->nslots - 1, i = (size_t)h & mask;
    for (pd_tag *t; (t = ctx->slots[i]) != NULL; i = (i + 1) & mask) {
        if (t->hash == h && t->keylen == n && memcmp(t->key, s, n) == 0)
            return t;
    }
    if (ctx->ntags >= ctx->max_tags) { /* other programs' tags are many in some logs: stay bounded */
        pd_ctx_clear_tags(ctx);
        i = (size_t)h & mask;
    }
    pd_tag *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->key = malloc(n ? n : 1);
    if (t->key == NULL) {
        free(t);
        return NULL;
    }
    memcpy(t->key, s, n);
    t->keylen = n;
    t->hash = h;
    if (ctx->resolve_tag(ctx->ud, t) < 0) {
        free(t->key);
        free(t);
        return NULL;
    }
    ctx->slots[i] = t;
    ctx->ntags++;
    return t;
}

static pd_span group(const PCRE2_SIZE *ov, int rc, int g)
{
    pd_span sp = {0, 0, 0};
    if (g < 0 || g >= rc || ov[2 * g] == PCRE2_UNSET)
        return sp;
    sp.start = ov[2 * g];
    sp.end = ov[2 * g + 1];
    sp.set = sp.end >= sp.start;
    return sp;
}

static const struct {
    const char *text;
    size_t len;
} PREFIXES[PD_SEVERITIES] = {
    {"", 0}, {"warning: ", 9}, {"error: ", 7}, {"fatal: ", 7}, {"panic: ", 7},
};

int pd_scan(pd_ctx *ctx, const unsigned char *s, size_t len, pd_line *out)
{
    out->status = PD_FALLBACK;
    if ((len > 0 && s[0] == 0) || len > ctx->max_line || ctx->nformats == 0)
        return PD_FALLBACK; /* NUL padding and over-long lines: the Python parser's cases */

    /* the envelope: the format that matched last, then every format in order */
    int fi = ctx->last_format, rc = match(ctx, &ctx->formats[fi].re, s, len);
    if (rc == PCRE2_ERROR_NOMATCH) {
        for (fi = 0; fi < ctx->nformats; fi++) {
            rc = match(ctx, &ctx->formats[fi].re, s, len);
            if (rc != PCRE2_ERROR_NOMATCH)
                break;
        }
        if (fi == ctx->nformats)
            return PD_FALLBACK; /* no envelope: the Python parser knows the other inputs */
        if (rc > 0)
            ctx->last_format = fi;
    }
    if (rc <= 0) {
        ctx->pcre_errors++;
        return PD_FALLBACK;
    }
    const pd_format *f = &ctx->formats[fi];
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(f->re.md);
    out->format = fi;
    out->ts = group(ov, rc, f->ts);
    out->host = group(ov, rc, f->host);
    out->tag = group(ov, rc, f->tag);
    out->pid = group(ov, rc, f->pid);
    out->outer = group(ov, rc, f->outer);
    out->body = group(ov, rc, f->body);
    if (!out->tag.set || !out->body.set || out->body.end > len || out->tag.end > len)
        return PD_FALLBACK;

    /* damage from CSV exports: a run of commas after the message */
    size_t bs = out->body.start, be = out->body.end;
    if (be - bs >= 3 && s[be - 1] == ',' && s[be - 2] == ',' && s[be - 3] == ',') {
        while (be > bs && s[be - 1] == ',')
            be--;
        out->body.end = be;
    }

    pd_tag *t = lookup_tag(ctx, s + out->tag.start, out->tag.end - out->tag.start);
    if (t == NULL)
        return out->status = PD_ERROR;
    out->tagent = t;
    out->text = out->body;
    out->severity = 0;
    if (!t->is_postfix)
        return out->status = PD_FOREIGN;

    for (int sev = 1; sev < PD_SEVERITIES; sev++) {
        size_t n = PREFIXES[sev].len;
        if (be - bs >= n && memcmp(s + bs, PREFIXES[sev].text, n) == 0) {
            out->severity = sev;
            out->text.start = bs + n;
            break;
        }
    }
    pd_body *b = t->body[out->severity];
    if (b == NULL) {
        b = ctx->resolve_body(ctx->ud, t, out->severity);
        if (b == NULL)
            return out->status = PD_ERROR;
        t->body[out->severity] = b;
    }
    out->matcher = b;
    if (b->fallback)
        return PD_FALLBACK;
    if (!b->has_re)
        return out->status = PD_NORULE;
    const unsigned char *text = s + out->text.start;
    size_t tlen = out->text.end - out->text.start;
    rc = match(ctx, &b->re, text, tlen);
    if (rc == PCRE2_ERROR_NOMATCH)
        return out->status = PD_NORULE;
    if (rc < 0) {
        ctx->pcre_errors++;
        return PD_FALLBACK;
    }
    /* each rule's alternative ends with its marker: the last mark passed names the rule */
    uint32_t g;
    if (mark_number(pcre2_get_mark(b->re.md), &g) < 0 || g >= b->nrules)
        return PD_FALLBACK;
    if (b->rule_state[g] == 0) {
        int made = ctx->resolve_rule(ctx->ud, b, g);
        if (made < 0)
            return out->status = PD_ERROR;
        b->rule_state[g] = made == 0 && b->rules[g] != NULL && b->rule_re[g].code != NULL ? 1 : 2;
    }
    if (b->rule_state[g] != 1)
        return PD_FALLBACK;
    rc = match(ctx, &b->rule_re[g], text, tlen);
    if (rc <= 0) { /* the rule alone must match where the alternation said it does */
        ctx->pcre_errors++;
        return PD_FALLBACK;
    }
    out->marker = g;
    out->rule = b->rules[g];
    out->ov = pcre2_get_ovector_pointer(b->rule_re[g].md);
    out->ovpairs = rc;
    return out->status = PD_MATCH;
}
