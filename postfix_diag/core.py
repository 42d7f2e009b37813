"""The optional compiled parse core: which parser runs, and building it for a `parse.Parser`.

``postfix_diag._core`` (C over PCRE2 with JIT, built by setup.py when a compiler and
libpcre2-dev are present) parses a line in one call: envelope, tag, severity prefix, the
(program, severity) body matcher, fields and their int/float conversions, the Event. It takes
its regexes and rule tables from the same compiled grammar as the Python parser (regexes
translated by `pcre_translate`) and leaves to the Python parser every line it does not handle
the same way: text with non-ASCII characters (str indexes are not byte offsets there), lines
without a known envelope, NUL padding, over-long lines, PCRE2 limits. The Python parser in
parse.py is the reference; tests/test_core_differential.py requires identical events.

``POSTFIX_DIAG_PURE=1`` (any value but "" and "0") makes every parser the Python one.
"""

from __future__ import annotations

import os

from .events import ACCESS_KINDS, ACCESS_OTHER, FOREIGN, UNRECOGNIZED, Event
from .grammar.compiler import FLAGS
from .pcre_translate import Untranslatable, translate
from .selection import PARSER_KINDS

try:
    from . import _core
except ImportError as exc:  # not built: no compiler or no libpcre2-dev at install time
    _core = None
    _IMPORT_ERROR = str(exc)
else:
    _IMPORT_ERROR = ""

PURE_ENV = "POSTFIX_DIAG_PURE"
SEVERITIES = ("info", "warning", "error", "fatal", "panic")  # the core's order (pd_core.h)
# timestamp handling of an envelope format, as parse_line branches on it (pd_module.c MODE_*)
MODE_NO_TS, MODE_CLASSIC, MODE_OUTER, MODE_ISO, MODE_OTHER = range(5)


def forced_pure() -> bool:
    return os.environ.get(PURE_ENV, "") not in ("", "0")


def available() -> bool:
    """The compiled core is built and not switched off."""
    return _core is not None and not forced_pure()


def describe() -> str:
    """Which parser runs, in one line (`postfix-diag --version`)."""
    if _core is None:
        return "parser: pure Python (compiled core not built: needs a C compiler and libpcre2-dev at install)"
    jit = "JIT" if _core.JIT else "no JIT"
    if forced_pure():
        return f"parser: pure Python ({PURE_ENV} is set; compiled core PCRE2 {_core.PCRE2_VERSION} available)"
    return f"parser: compiled core (PCRE2 {_core.PCRE2_VERSION}, {jit}), pure Python for non-ASCII lines"


def _format_spec(fmt) -> tuple:
    """What the core needs of a parse._Envelope: (pattern, groups..., mode, name)."""
    regex = fmt.match.__self__
    if not fmt.has_ts:
        mode = MODE_NO_TS
    elif fmt.name == "classic":
        mode = MODE_CLASSIC
    elif fmt.outer:
        mode = MODE_OUTER
    elif fmt.name == "iso":
        mode = MODE_ISO
    else:
        mode = MODE_OTHER
    ts, host, tag, pid, body = fmt.idx
    pattern = translate(regex.pattern, regex.flags).encode("ascii")
    return (pattern, ts, host, tag, pid, body, fmt.outer or -1, mode, fmt.name)


def _rule_spec(entry: tuple, rule, selection=None) -> tuple:
    """(kind, names, group indexes, conversions, converter per capture, simple, light) of one
    rule, from the parser's (possibly projected) table entry and the rule's own capture list;
    light: (Fields type, declared names) when the rule's kind is selected (Parser(select=...))."""
    kind, names, indexes, conversions, _single = entry
    kept = list(zip(names, indexes, strict=True))
    convs, k = [], 0
    for (name, conv), index in zip(rule.fields, rule.group_indexes, strict=True):
        if k < len(kept) and kept[k] == (name, index):
            convs.append(conv)
            k += 1
    if k != len(kept):
        raise ValueError(f"rule {rule.source}: table entry does not follow the rule's captures")
    # every converted name captured once, by its own converter: values convert as they are read
    # (names captured more than once without a converter just overwrite, as in parse.py's dict);
    # otherwise the core converts by name after building the dict, as parse.py does
    simple = (all(names.count(n) == 1 for n, _ in conversions)
              and tuple(conversions) == tuple((n, c) for n, c in zip(names, convs, strict=True) if c is not None))
    light = None
    if selection is not None and kind in selection.types:
        light = (selection.types[kind], selection.names[kind])
    return (kind, tuple(names), tuple(indexes), tuple(conversions), tuple(convs), simple, light)


def _body(parser, program: str, severity: str):
    """The compiled Body of a (program, severity), shared by programs that share a matcher: the
    alternation of its rules without captures (a mark per rule), each rule made alone, with
    its captures, on its first match (see pd_core.h)."""
    m = parser.grammar.body(program, severity)
    cache = parser._core_bodies
    body = cache.get(id(m))
    if body is None:
        if m.regex is None:
            body = _core.Body(None, 0, None)
        else:
            try:
                pattern = translate(m.regex.pattern, m.regex.flags, marks=frozenset(m.by_group)).encode("ascii")
                body = _core.Body(pattern, max(m.by_group) + 1, _rule_maker(parser, m))
            except (Untranslatable, ValueError):
                body = _core.Body(None, 0, None, fallback=True)  # its lines go to the Python parser
        cache[id(m)] = body  # matchers live as long as the grammar, as in Parser._tables
    return body


def _rule_maker(parser, matcher):
    """make_rule(marker) of a Body: the rule's table entry and its own PCRE2 pattern."""

    def make_rule(marker: int):
        info = matcher.by_group.get(marker)
        alone = parser.grammar.rule_alone(info.source) if info is not None else None  # the Matcher layout, one rule
        if alone is None:
            return None
        source, only = alone
        try:
            pattern = translate(source, FLAGS).encode("ascii")
        except Untranslatable:
            return None
        return _rule_spec(parser._table_entry(only), only, parser.selection), pattern

    return make_rule


def make_parse_line(parser, fallback, max_line: int, max_tags: int, year_guesser, iso_epoch,
                    max_pid_digits: int):
    """The compiled core (a _core.Parser: parse_line and parse_block, the same signatures and
    events as the Python parser's) for ``parser``, or None when the core is not available or a
    format cannot be translated. ``fallback`` is the Python parse_line of full events."""
    if not available() or max_pid_digits != _core.MAX_PID_DIGITS:
        return None
    try:
        formats = tuple(_format_spec(f) for f in parser._formats)
    except Untranslatable:
        return None
    parser._core_bodies = {}

    def body_for(program, severity):
        return _body(parser, program, severity)

    select = None
    sel = parser.selection
    if sel is not None:
        select = (sel.convert, parser.skipped, {k: (t, sel.names[k]) for k, t in sel.types.items() if k in PARSER_KINDS})
    core = _core.Parser(formats, max_line, max_tags, fallback, parser._split_tag, body_for, iso_epoch,
                        year_guesser, parser.year, Event, ACCESS_KINDS, ACCESS_OTHER, UNRECOGNIZED, FOREIGN,
                        SEVERITIES, True, select)
    parser._core = core
    return core
