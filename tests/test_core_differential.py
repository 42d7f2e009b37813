"""The compiled parse core against the Python parser (the reference): identical events.

Both parsers read every sample log, the public corpus (../shared/corpus), the generated 100k-line
bench log, and hypothesis-made mutations of real lines (truncated, bytes inserted, NUL, invalid
UTF-8 as the reader decodes it, huge fields, month changes for the year guesser). Identical means
the same kind, every attribute and field with the same type and value, in the same order, or the
same exception. Skipped only when the core is not built, and a test fails when it could have
been built but was not (a broken build must not hide as a skip).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postfix_diag import core
from postfix_diag.events import Event
from postfix_diag.inputs import resolve
from postfix_diag.parse import MAX_LINE, Parser, YearGuesser

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "sample_logs").glob("*/maillog"))
CORPUS = Path(os.environ.get("POSTFIX_DIAG_CORPUS", ROOT.parent / "shared" / "corpus" / "all-lines.txt"))
MTIME = 1_750_000_000.0  # a fixed "file modification time" for the year guessers

needs_core = pytest.mark.skipif(core._core is None, reason="compiled core not built (no compiler or libpcre2-dev)")


def _pcre2_dev_present() -> bool:
    return shutil.which("pcre2-config") is not None or Path("/usr/include/pcre2.h").is_file()


def test_core_is_built_where_it_can_be():
    """With a C compiler and libpcre2-dev (as .ci/run installs them), the install must have built
    the core: otherwise every test below would skip and a broken build would look like success."""
    if not (shutil.which("cc") or shutil.which("gcc")) or not _pcre2_dev_present():
        pytest.skip("no C compiler or no libpcre2-dev here: the core cannot be built")
    assert core._core is not None, f"compiled core not built although it could be: {core._IMPORT_ERROR}"
    assert core._core.JIT, "PCRE2 without JIT support"


def event_key(ev: Event | None) -> list | None:
    """Every attribute of an event with its type (fields in order), for exact comparison."""
    if ev is None:  # a line of a kind not selected (Parser(select=...))
        return None
    out = [(type(ev).__name__,)]
    out += [(name, type(getattr(ev, name)).__name__, repr(getattr(ev, name))) for name in Event.__slots__
            if name != "f"]
    items = ev.f.items() if isinstance(ev.f, dict) else zip(ev.f.names, ev.f, strict=True)
    out.append(("f", type(ev.f).__name__, [(k, type(v).__name__, repr(v)) for k, v in items]))
    return out


def outcome(parse, line, lineno, years):
    try:
        return event_key(parse(line, "<t>", lineno, years))
    except Exception as exc:  # noqa: BLE001 - both parsers must fail alike, if at all
        return ("raises", type(exc).__name__)


def _pair(**kw) -> tuple[Parser, Parser]:
    fast, pure = Parser(**kw), Parser(pure=True, **kw)
    assert fast.compiled and not pure.compiled
    return fast, pure


def assert_same(lines, fast: Parser, pure: Parser, year=None, what="") -> None:
    ya, yb = YearGuesser(year, MTIME), YearGuesser(year, MTIME)
    for lineno, line in enumerate(lines, 1):
        a = outcome(fast.parse_line, line, lineno, ya)
        b = outcome(pure.parse_line, line, lineno, yb)
        assert a == b, f"{what} line {lineno}: {line[:300]!r}... ({len(line)} characters)"
    assert ya.years_used == yb.years_used and ya.year == yb.year
    assert fast.skipped == pure.skipped


# what a consumer of light events might select: fields of every sort (ints, floats, a name
# captured twice, the folded action), parser-made kinds, and kinds left out entirely
SELECT = {
    "delivery": ("status", "to", "delay", "relay", "conn_use", "orig_to"),
    "reject": ("action", "code", "stage", "reason", "from"),
    "qmgr_queued": ("size", "from", "nrcpt"),
    "connect": ("client_ip",), "removed": (), "message_id": ("message_id",),
    "foreign": (), "unrecognized": ("reason",), "warning": (), "fatal": (),
}


@needs_core
@pytest.mark.parametrize("log", SAMPLES, ids=[p.parent.name for p in SAMPLES])
@pytest.mark.parametrize("select", [None, SELECT], ids=["full", "light"])
def test_sample_logs(log, select):
    fast, pure = _pair(select=select)
    source = resolve([str(log)])[0]
    a = [event_key(e) for e in fast.parse_source(source)]
    b = [event_key(e) for e in pure.parse_source(source)]
    assert a == b
    assert fast.assumptions == pure.assumptions and fast.skipped == pure.skipped
    if select:
        assert a and all(k is not None for k in a)  # parse_source leaves the others out


@needs_core
def test_corpus():
    if not CORPUS.is_file():
        pytest.skip(f"public corpus not found at {CORPUS} (set POSTFIX_DIAG_CORPUS)")
    lines = CORPUS.read_text(encoding="utf-8", errors="replace").splitlines()
    fast, pure = _pair()
    assert_same(lines, fast, pure, what=str(CORPUS))
    stats = fast._core.stats()
    assert stats["matched"] > len(lines) // 2  # the core did the work, not the fallback
    fast, pure = _pair(select=SELECT)
    assert_same(lines, fast, pure, what=f"{CORPUS}, light events")


@needs_core
def test_bench_log_every_field_and_projected():
    sys.path.insert(0, str(ROOT / "tools"))
    import golden

    golden.ensure_bench_log()
    lines = golden.BENCH_LOG.read_text(encoding="utf-8").splitlines()
    fast, pure = _pair()
    assert_same(lines, fast, pure, what="bench")
    stats = fast._core.stats()
    assert stats["python"] < len(lines) // 1000 and stats["matched"] > len(lines) * 9 // 10, stats
    from postfix_diag.summary import FIELDS

    fast, pure = _pair(fields=FIELDS)
    assert_same(lines[:30_000], fast, pure, what="bench, summary's fields")
    fast, pure = _pair(select=SELECT)
    assert_same(lines[:30_000], fast, pure, what="bench, light events")
    assert sum(fast.skipped.values()) > 5000 and fast.skipped.keys() == pure.skipped.keys()


@needs_core
def test_explicit_year_rollover_and_mixed_fallback_lines():
    """The core remembers the last stamp's value per year guesser; a line the Python parser
    handles (non-ASCII) in between moves the guesser on, and the core must not reuse a stale one."""
    lines = []
    for month in ("Nov", "Dec", "Jan", "Dec", "Jan", "Feb", "Jan"):
        lines += [f"{month}  1 00:00:00 mx postfix/qmgr[2]: AAAA1: removed",
                  f"{month}  1 00:00:00 mx postfix/qmgr[2]: AAAA1: removed",
                  "Dec 31 23:59:59 mx postfix/smtpd[1]: connect from h\u00e9[192.0.2.1]",
                  f"{month}  1 00:00:00 mx postfix/qmgr[2]: AAAA1: removed"]
    for year in (2020, None):
        fast, pure = _pair(year=year)
        assert_same(lines, fast, pure, year=year, what=f"year {year}")


# -- hypothesis: mutations of real lines ---------------------------------------------------------

def _real_lines() -> list[str]:
    lines = []
    for log in SAMPLES:
        lines += log.read_text(encoding="utf-8", errors="replace").splitlines()
    if CORPUS.is_file():
        corpus = CORPUS.read_text(encoding="utf-8", errors="replace").splitlines()
        lines += corpus[:: max(1, len(corpus) // 4000)]
    return [line for line in lines if line]


REAL = _real_lines()
INSERTS = st.sampled_from(["\x00", "\r", "\n", "\t", " ", ",,,", ":", ": ", "[", "]", "<", ">", "=", "\ufffd",
                           "\u00e9", "\x1c", "\x1f", "\x7f", "0", "99999999999999999999", "warning: ", "/",
                           "postfix/", "NOQUEUE: ", "1A2B3C4D5E: ", "Dec 31 23:59:59 ", "2024-02-30T25:61:61Z "])


@st.composite
def mutated(draw):
    line = draw(st.sampled_from(REAL))
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["truncate", "insert", "delete", "repeat", "nul", "digits", "replace"]))
        n = len(line)
        i = draw(st.integers(0, n))
        if op == "truncate":
            line = line[:i]
        elif op == "insert":
            line = line[:i] + draw(INSERTS) + line[i:]
        elif op == "delete":
            line = line[:i] + line[i + draw(st.integers(1, 8)):]
        elif op == "repeat":  # huge fields, and lines around MAX_LINE
            j = min(n, i + draw(st.integers(1, 12)))
            k = draw(st.sampled_from([2, 50, (MAX_LINE // max(1, j - i)) + 1, 4000]))
            line = line[:i] + line[i:j] * k + line[j:]
        elif op == "nul":
            line = "\x00" * draw(st.integers(1, 5)) + line
        elif op == "digits":
            line = line[:i] + "7" * draw(st.sampled_from([19, 400, 5000])) + line[i:]
        else:
            line = line[:i] + draw(st.characters(max_codepoint=0x2FFF)) + line[i + 1:]
    return line


@needs_core
@settings(max_examples=int(os.environ.get("CORE_DIFF_EXAMPLES", "400")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(mutated(), min_size=1, max_size=12), st.sampled_from([None, 2021, "light"]))
def test_mutated_real_lines(lines, year):
    fast, pure = PAIRS[year]
    assert_same(lines, fast, pure, year=None if year == "light" else year, what="mutated")


PAIRS = {}
if core._core is not None:
    PAIRS = {None: _pair(), 2021: _pair(year=2021), "light": _pair(year=2022, select=SELECT)}


@needs_core
def test_parse_block_equals_parse_line():
    lines = [line for log in SAMPLES[:4] for line in log.read_text(encoding="utf-8").splitlines()]
    lines += ["", "garbage", "Jan  1 00:00:00 mx postfix/smtpd[1]: connect from h\u00e9[192.0.2.1]"]
    for select in (None, SELECT):
        fast, pure = _pair(select=select, year=2024)
        one = Parser(select=select, year=2024)
        ya, yb, yc = (YearGuesser(2024, MTIME) for _ in range(3))
        a = [event_key(e) for e in fast.parse_block(lines, "<b>", 7, ya)]
        b = [event_key(e) for e in pure.parse_block(lines, "<b>", 7, yb)]
        c = [event_key(e) for i, line in enumerate(lines, 7) if (e := one.parse_line(line, "<b>", i, yc))]
        assert a == b == c and len(a) > 10


def test_envelope_formats_are_exclusive():
    """No line matches two envelope formats. Both parsers try the format that matched last first
    (each keeps its own), so they agree on every line only while the formats cannot overlap."""
    formats = Parser(pure=True)._formats
    lines = list(REAL)
    sys.path.insert(0, str(ROOT / "tools"))
    import golden

    golden.ensure_bench_log()
    with open(golden.BENCH_LOG, encoding="utf-8") as fh:
        lines += [next(fh) for _ in range(20_000)]
    for line in lines:
        names = [f.name for f in formats if f.match(line.rstrip("\n"))]
        assert len(names) <= 1, f"{line!r} matches envelope formats {names}"


@needs_core
def test_core_keeps_no_memory_per_line():
    """Parsing the same lines again allocates nothing that stays (no reference leaks): the tag
    cache and the compiled matchers are made on the first pass."""
    import gc
    import tracemalloc

    sys.path.insert(0, str(ROOT / "tools"))
    import golden

    golden.ensure_bench_log()
    with open(golden.BENCH_LOG, encoding="utf-8") as fh:
        lines = [next(fh).rstrip("\n") for _ in range(20_000)]
    lines += [line.replace("mx", "m\u00e9x", 1) for line in lines[:200]]  # the fallback path too
    fast = Parser()
    years = YearGuesser(None, MTIME)
    for line in lines:
        fast.parse_line(line, "<t>", 1, years)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(3):
            for line in lines:
                fast.parse_line(line, "<t>", 1, years)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 256 * 1024, f"{grown} bytes kept after parsing {3 * len(lines)} lines"


@needs_core
def test_every_grammar_matcher_runs_in_the_core():
    """Every envelope format, body matcher and rule of the grammar translates to PCRE2 and is
    JIT-compiled: a regex construct the translator does not know would silently send that
    matcher's lines to the Python parser (see postfix_diag/pcre_translate.py)."""
    parser = Parser()
    assert parser.compiled
    parser.grammar.compile_all()
    for program in [*parser.grammar.programs, "<any>"]:
        for severity in core.SEVERITIES:
            body = core._body(parser, program, severity)
            m = parser.grammar.body(program, severity)
            assert not body.fallback and (m.regex is None or body.jit), (program, severity)
            make = core._rule_maker(parser, m) if m.regex is not None else None
            for marker in m.by_group:
                spec, pattern = make(marker)
                assert core._core.Body(pattern, 0, None).jit, (program, severity, spec[0])


def test_lines_read_before_a_read_error_still_become_events(tmp_path):
    """parse_source reads in blocks: a truncated archive still yields the events of the lines
    read before it broke, then the one-line error (as when it read line by line)."""
    import gzip

    from postfix_diag.inputs import InputError

    text = "".join(f"Jan  1 00:00:00 mx postfix/qmgr[1]: {i:010X}: removed\n" for i in range(20_000))
    data = gzip.compress(text.encode())
    path = tmp_path / "mail.log.1.gz"
    path.write_bytes(data[: len(data) // 2])
    for pure in (True, False):
        if not pure and core._core is None:
            continue
        seen = []
        with pytest.raises(InputError):
            for ev in Parser(year=2024, pure=pure).parse_source(resolve([str(path)])[0]):
                seen.append(ev.qid)
        assert len(seen) > 5000 and seen[:2] == ["0000000000", "0000000001"]
        assert seen == [f"{i:010X}" for i in range(len(seen))]


@needs_core
def test_parsers_are_freed():
    """A parser and its core refer to each other (callbacks, the tag cache's matchers): the
    cyclic collector must see those references, or every Parser would stay with its regexes."""
    import gc
    import weakref

    refs = []
    for kw in ({}, {"select": SELECT}, {"year": 2020}):
        parser = Parser(**kw)
        assert parser.compiled
        parser.parse_line("Jan  5 12:00:00 mx postfix/smtpd[1]: connect from a.example[192.0.2.1]")
        parser.parse_line("Jan  5 12:00:00 mx postfix/qmgr[2]: AAAA1: removed")
        refs.append(weakref.ref(parser))
        del parser
    gc.collect()
    assert all(r() is None for r in refs)


ENVELOPE_LINES = [  # one line per envelope format and timestamp variant the grammar knows
    "Jan  1 00:00:00 host postfix/smtpd[1]: connect from a[192.0.2.1]",  # classic
    "Dec 31 23:59:59.123 host postfix/qmgr[2]: 1A2B3C4D5E: removed",  # classic, fraction
    "<22>Jan  1 00:00:00 host postfix/smtpd[1]: connect from a[192.0.2.1]",  # classic, priority
    "2024-01-01T12:00:00Z host postfix/smtpd[42]: connect from a[192.0.2.1]",  # RFC 3339
    "2024-01-01T12:00:00.123456+01:00 host postfix/smtpd[42]: connect from a[192.0.2.1]",
    "2024-01-01T12:00:00+0100 host mail.info postfix/smtpd[42]: connect from a[192.0.2.1]",  # short-iso
    "2024-01-01T12:00:00.123+0100 host postfix/smtpd[42]: connect from a[192.0.2.1]",  # short-iso-precise
    "2024-01-01 12:00:00 host postfix/smtpd[42]: connect from a[192.0.2.1]",  # ISO with a space
    "2024-01-01T12:00:00 host postfix/smtpd[42]: connect from a[192.0.2.1]",  # ISO, local time
    "2024-13-45T99:00:00Z host postfix/smtpd[42]: connect from a[192.0.2.1]",  # ISO, invalid date
    "2021-03-08T07:21:23.496826493Z Mar  8 07:21:23 host postfix/smtpd[2990]: connect from a[192.0.2.1]",  # docker
    "2021-13-08T07:21:23Z Mar  8 07:21:23 host postfix/smtpd[2990]: connect from a[192.0.2.1]",  # docker, bad outer
    "<22>1 2024-01-01T00:00:00Z host postfix/smtpd 123 - - connect from a[192.0.2.1]",  # RFC 5424
    "<22>1 2024-01-01T00:00:00Z host postfix/smtpd - - [x@1 a=\"b\"] connect from a[192.0.2.1]",
    "postfix/postfix-script: fatal: the Postfix mail system is not running",  # no timestamp
    "mx postfix/smtp[9]: 1A2B3C4D5E: removed",  # no timestamp, host
]


@needs_core
@pytest.mark.parametrize("year", [None, 2024])
def test_every_envelope_format_in_the_core(year):
    fast, pure = _pair(year=year)
    assert_same(ENVELOPE_LINES, fast, pure, year=year, what="formats")
    assert fast._core.stats()["python"] == 0  # the core handled every one of them
    names = {fast.parse_line(line).fmt for line in ENVELOPE_LINES}
    assert {"classic", "rfc3339", "rfc3339-fraction", "journal-short-iso", "iso-space", "container", "rfc5424",
            "no-timestamp"} <= names, names
