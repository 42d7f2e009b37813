"""Every regex outside the grammar runs in linear time on log text (issue 18: SEC003's
``\\S*\\[`` pattern took 42 s on one 32 KB line).

The patterns are found, not listed: every compiled regex at module level in the rules, the
summary, qshape, coverage and the report writers, so that a new pattern is checked too. Each one
meets lines of the shapes that make a backtracking engine go quadratic (runs of ``a[``, ``[``,
``<``, tabs, spaces...), alone and after each literal text the pattern looks for, at 2 KB and
32 KB: the 32 KB line must cost well under quadratic time (16x the length: linear is about 16x
the time, quadratic 256x; the bound is 40x, each time the best of a few runs). Then the same
shapes go through the real pipeline (parser, tracker, every rule, the summary and the queue
shape) inside the message texts that those patterns read.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import time

import pytest

try:
    import re._parser as sre_parse  # Python 3.11+
except ImportError:  # pragma: no cover
    import sre_parse  # type: ignore[no-redef]

import postfix_diag.report
import postfix_diag.rules

SMALL, LARGE = 2 * 1024, 32 * 1024
MAX_RATIO = 40  # linear: about 16; quadratic: about 256
UNITS = ("a[", "[", "<", "\t", " ", "a", "a.", "1.", "a@", "a=", ": ", "<a", "a;", "://", "(", "[1")


def _modules():
    names = ["postfix_diag.summary", "postfix_diag.qshape", "postfix_diag.coverage"]
    for pkg in (postfix_diag.rules, postfix_diag.report):
        names += [f"{pkg.__name__}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__)]
    return [importlib.import_module(n) for n in names]


def patterns() -> list[tuple[str, re.Pattern]]:
    """(module.NAME, pattern) of every module-level compiled regex, also inside tuples and lists
    (coverage's masks)."""
    out = []
    for mod in _modules():
        for name, value in vars(mod).items():
            items = value if isinstance(value, (tuple, list)) else (value,)
            for i, item in enumerate(items):
                for x in (item if isinstance(item, tuple) else (item,)):
                    if isinstance(x, re.Pattern) and isinstance(x.pattern, str):
                        out.append((f"{mod.__name__}.{name}" + (f"[{i}]" if items is value else ""), x))
    return out


def literals(pattern: re.Pattern) -> list[str]:
    """The literal texts a pattern looks for (runs of literal characters in its parse tree)."""
    found: list[str] = []

    def walk(items):
        run = []
        for op, arg in items:
            if op is sre_parse.LITERAL:
                run.append(chr(arg))
                continue
            if run:
                found.append("".join(run))
                run = []
            if op in (sre_parse.SUBPATTERN,):
                walk(arg[-1])
            elif op in (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, getattr(sre_parse, "POSSESSIVE_REPEAT", None)):
                walk(arg[2])
            elif op is sre_parse.BRANCH:
                for branch in arg[1]:
                    walk(branch)
            elif op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT):
                walk(arg[1])
            elif op is getattr(sre_parse, "ATOMIC_GROUP", None):
                walk(arg)
        if run:
            found.append("".join(run))

    walk(sre_parse.parse(pattern.pattern, pattern.flags))
    return sorted({t for t in found if t.strip()}, key=len, reverse=True)[:2]


def shapes(pattern: re.Pattern, size: int) -> list[str]:
    """Lines of the worst shapes for ``pattern``, ``size`` characters long."""
    out = []
    for prefix in ["", *literals(pattern)]:
        for unit in UNITS:
            body = unit * ((size - len(prefix)) // len(unit))
            out.append(prefix + body)
            out.append((prefix + unit) * (size // (len(prefix) + len(unit))))  # the prefix again and again
    return out


def scan(pattern: re.Pattern, text: str) -> None:
    """What the modules do with a pattern, at most: every match over the whole text."""
    for _ in pattern.finditer(text):
        pass
    pattern.match(text)


def best_of(func, n: int = 3) -> float:
    best = float("inf")
    for _ in range(n):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


PATTERNS = patterns()


def test_the_patterns_are_found():
    names = {name for name, _ in PATTERNS}
    assert {"postfix_diag.summary._HOSTIP", "postfix_diag.qshape._RE_TRIM",
            "postfix_diag.rules.delivery._CONNECT_TARGET", "postfix_diag.coverage._MASKS[1]"} <= names
    assert len(PATTERNS) > 40


SCREEN = 0.2  # seconds: a 32 KB line scanned faster than this is linear enough without a closer look
# (a quadratic pattern takes seconds there: SEC003's old client pattern 42 s)


def ratio(pattern: re.Pattern, short: str, long: str) -> float:
    """Time on the long line over time on the short one (linear: 16; quadratic: 256): the short
    one scanned 16 times (as many characters as the long one once), the two measured in turns,
    the best of 3 each, so that a busy machine slows both alike."""
    copies = LARGE // SMALL
    t_short = t_long = float("inf")
    for _ in range(3):
        t_short = min(t_short, best_of(lambda: [scan(pattern, short) for _ in range(copies)], 1))
        t_long = min(t_long, best_of(lambda: scan(pattern, long), 1))
    return copies * t_long / t_short


@pytest.mark.parametrize("name,pattern", PATTERNS, ids=[n for n, _ in PATTERNS])
def test_linear(name, pattern):
    for short, long in zip(shapes(pattern, SMALL), shapes(pattern, LARGE), strict=True):
        if best_of(lambda long=long: scan(pattern, long), 2) < SCREEN:
            continue
        r = ratio(pattern, short, long)
        for _ in range(1):
            if r > MAX_RATIO:
                r = min(r, ratio(pattern, short, long))  # a busy machine: again
        assert r <= MAX_RATIO, f"{name} /{pattern.pattern}/ is not linear on {long[:40]!r}...: 32 KB takes {r:.0f}x 2 KB"


# --- through the real pipeline ---------------------------------------------------------------------

# Lines whose free text the rules, the summary and the queue shape read with the patterns above
# ({} is the crafted text), from Postfix's templates (../shared/reference).
TEMPLATES = (
    "postfix/smtpd[10]: warning: Foo limit exceeded: {} for service smtp",
    "postfix/smtpd[10]: warning: Illegal address syntax from unknown[192.0.2.7] in MAIL command: <{}>",
    "postfix/smtp[11]: 1A2B3C4D5E: to=<u@{}>, relay=mx.example[192.0.2.9]:25, delay=1, delays=0/0/0/1, "
    "dsn=5.0.0, status=bounced (host mx.example[192.0.2.9] said: 550 {} (in reply to RCPT TO command))",
    "postfix/smtp[11]: 2A2B3C4D5E: to=<u@example.org>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, "
    "status=deferred (connect to {}: Connection refused)",
    "postfix/smtp[11]: 3A2B3C4D5E: to=<u@example.org>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.3, "
    "status=deferred (Host or domain name not found. Name service error for name={} type=MX: Host not found, try again)",
    "postfix/qmgr[12]: 4A2B3C4D5E: from=<>, size=100, nrcpt=1 (queue active)",
    "postfix/smtp[11]: 4A2B3C4D5E: to=<{}>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, "
    "status=deferred (delivery temporarily suspended: lost connection with {} while receiving the initial server greeting)",
    "postfix/smtpd[13]: NOQUEUE: reject: RCPT from unknown[192.0.2.8]: 554 5.7.1 Service unavailable; "
    "Client host [192.0.2.8] blocked using {}; from=<a@b> to=<c@d> proto=ESMTP helo=<x>",
    "postfix/cleanup[14]: warning: {}",
    "postfix/local[15]: 5A2B3C4D5E: to=<u@example.org>, relay=local, delay=1, delays=0/0/0/1, dsn=5.2.0, "
    "status=bounced (cannot update mailbox /var/mail/{} for user u. {})",
)


def _pipeline_seconds(lines: list[str]) -> float:
    from postfix_diag import analyze, summary
    from postfix_diag.parse import Parser
    from postfix_diag.qshape import entries_from_messages

    def once():
        events = list(Parser(year=2025).parse_lines(lines, "crafted"))
        s = analyze.stream()
        s.feed_all(events)
        analyze.conclude(s)
        t = summary.stream()
        t.feed_all(events)
        entries_from_messages(t.finish())
        summary.summarize(t.consumers[0])

    return best_of(once)


@pytest.mark.parametrize("unit", UNITS)
def test_linear_through_the_pipeline(unit):
    """Each template with the crafted text at 2 KB and at 32 KB, through the parser, the tracker,
    every rule, the summary and the queue shape: the long lines cost at most MAX_RATIO times the
    short ones (the fixed cost of a run, which would flatter the ratio, is taken out)."""
    def log(size):
        text = unit * (size // len(unit))
        return [f"Nov 25 12:00:{i:02d} mail " + t.replace("{}", text) for i, t in enumerate(TEMPLATES)]

    base = _pipeline_seconds(log(16))
    short, long = _pipeline_seconds(log(SMALL)) - base, _pipeline_seconds(log(LARGE)) - base
    # a floor of 5 ms for the 2 KB run: after the fixed cost is taken out it is mostly noise (it
    # came out negative), while a quadratic pattern costs seconds at 32 KB (SEC003's old one 42 s)
    assert long <= MAX_RATIO * max(short, 5e-3), f"{unit!r}: 2 KB {short:.4f} s, 32 KB {long:.4f} s"
