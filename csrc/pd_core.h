/* The compiled parse core: the part of a log line's parse that needs no Python.
 *
 * Given the grammar's envelope formats and (lazily) its body matchers, pd_scan() finds a line's
 * syslog envelope, splits off the tag, pid and severity prefix, picks the body matcher of the
 * (program, severity) and matches the message text, leaving offsets into the line. It reads the
 * line only through (pointer, length) and never past it; the fuzz harness (csrc/fuzz_core.c)
 * runs it under AddressSanitizer. The CPython module (csrc/pd_module.c) turns the offsets into
 * events exactly as postfix_diag/parse.py does; the Python parser stays the reference.
 */
#ifndef PD_CORE_H
#define PD_CORE_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#define PD_SEVERITIES 5 /* info, warning, error, fatal, panic (parse.py's order) */

typedef struct pd_regex {
    pcre2_code *code;
    pcre2_match_data *md;
    uint32_t groups; /* capture groups */
    int jit;         /* JIT-compiled */
} pd_regex;

/* One body matcher (grammar.compiler.Matcher), matched in two steps. The alternation of all its
 * rules is compiled without captures, each rule's marker group a (*MARK:g): one match says which
 * rule. Then that rule alone (compiled on its first match) gives the captures: the first
 * alternative of "(?:A1|A2|...)\z" that matches is Ak, and "Ak\z" alone matches the text along
 * the same path, so its groups hold what Ak's groups held in the alternation. A capture frame
 * per group of every rule (hundreds) is what a single match would cost otherwise. */
typedef struct pd_body {
    pd_regex re;       /* the alternation, no captures */
    int has_re;        /* 0: a matcher without rules (never matches) */
    int fallback;      /* 1: this matcher could not be translated: its lines go to Python */
    uint32_t nrules;   /* markers g < nrules */
    void **rules;      /* opaque rule tables, owned by the caller; NULL = not made yet */
    pd_regex *rule_re; /* each rule alone, with its captures; code NULL = not compiled yet */
    unsigned char *rule_state; /* 0 not made yet, 1 ready, 2 cannot: its lines go to Python */
} pd_body;

/* One syslog tag seen (cached): whether it is Postfix's, and its body matcher per severity. */
typedef struct pd_tag {
    unsigned char *key;
    size_t keylen;
    uint64_t hash;
    int is_postfix;
    void *user;                    /* the caller's data (the Python module: the split tuple) */
    pd_body *body[PD_SEVERITIES];  /* resolved on first use */
} pd_tag;

typedef struct pd_format {
    pd_regex re;
    int ts, host, tag, pid, body, outer; /* group numbers; 0 = the whole match; -1 = none */
    int mode;                            /* the caller's timestamp handling */
} pd_format;

typedef struct pd_span {
    size_t start, end;
    int set;
} pd_span;

enum pd_status {
    PD_ERROR = -1,    /* a callback failed (the caller has the error) */
    PD_FALLBACK = 0,  /* leave this line to the Python parser */
    PD_FOREIGN = 1,   /* well-formed syslog line of another program */
    PD_NORULE = 2,    /* a Postfix line no rule of its (program, severity) matches */
    PD_MATCH = 3,     /* a rule matched: rule, ovector */
};

typedef struct pd_line {
    int status;
    int format;                       /* index into the formats */
    pd_span ts, host, tag, pid, outer; /* offsets into the line */
    pd_span body;                     /* after the envelope, trailing ",,," run removed */
    pd_span text;                     /* body after the severity prefix */
    int severity;                     /* 0..4 */
    pd_tag *tagent;
    pd_body *matcher;
    void *rule;                       /* rules[marker] */
    uint32_t marker;
    PCRE2_SIZE *ov;                   /* the body match's ovector, relative to text.start */
    int ovpairs;
} pd_line;

typedef struct pd_ctx pd_ctx;

/* Callbacks: fill tag->is_postfix and tag->user for a new tag (return 0, or -1 on error);
 * release a tag's user data; return the body matcher of a tag and severity (NULL on error). */
typedef int (*pd_resolve_tag)(void *ud, pd_tag *tag);
typedef void (*pd_release_tag)(void *ud, pd_tag *tag);
typedef pd_body *(*pd_resolve_body)(void *ud, pd_tag *tag, int severity);
/* Make rule `marker` of a body: fill body->rules[marker] and compile body->rule_re[marker];
 * return 0, 1 when it cannot be made (its lines go to Python), -1 on error. */
typedef int (*pd_resolve_rule)(void *ud, pd_body *body, uint32_t marker);

struct pd_ctx {
    pd_format *formats;
    int nformats;
    int last_format;
    size_t max_line;
    pd_tag **slots; /* open addressing */
    size_t nslots, ntags, max_tags;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit_stack;
    pcre2_compile_context *cctx;
    pd_resolve_tag resolve_tag;
    pd_release_tag release_tag;
    pd_resolve_body resolve_body;
    pd_resolve_rule resolve_rule;
    void *ud;
    uint64_t pcre_errors; /* matches that failed with an error (limits): lines left to Python */
};

/* Compile a PCRE2 pattern (anchored, dot-all, LF newlines, no UTF), JIT when possible.
 * Returns 0, or -1 with a message in err. */
int pd_regex_compile(pd_ctx *ctx, pd_regex *re, const char *pattern, size_t len, char *err, size_t errlen);
void pd_regex_free(pd_regex *re);

int pd_ctx_init(pd_ctx *ctx, int nformats, size_t max_line, size_t max_tags);
void pd_ctx_free(pd_ctx *ctx);
void pd_ctx_clear_tags(pd_ctx *ctx);
int pd_body_init(pd_body *body, uint32_t nrules);
void pd_body_free(pd_body *body);

/* Scan one line. s need not be NUL-terminated. */
int pd_scan(pd_ctx *ctx, const unsigned char *s, size_t len, pd_line *out);

#endif
