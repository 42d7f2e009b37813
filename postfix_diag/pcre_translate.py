"""Python ``re`` patterns → PCRE2 patterns that match ASCII text exactly as ``re`` does.

The compiled parse core (``postfix_diag._core``) runs the grammar's regexes with PCRE2 on lines
that are pure ASCII; every other line goes to the Python parser. So a translation only has to
agree with ``re`` on ASCII subjects, and this one does by construction: the pattern is parsed with
``re``'s own parser, every single-character item (literal, class, ``\\s``, ``.``...) becomes an
explicit PCRE2 class of the ASCII characters that ``re`` itself matches with it under the flags in
force there (``\\s`` in ``re`` also matches \\x1c-\\x1f, PCRE2's does not), and the structure
(groups in the same order, so group numbers are kept; alternations; greedy, lazy and possessive
repeats; look-arounds; anchors) is written out in PCRE2 syntax. ``\\Z`` becomes ``\\z`` (PCRE2's
``\\Z`` also matches before a final newline).

Anything it does not know raises `Untranslatable`: the core then leaves that matcher's lines to
the Python parser.
"""

from __future__ import annotations

import re
from functools import lru_cache
from re import _compiler as sre_compile  # noqa: PLC2701 - re's own parser is the reference
from re import _constants as C
from re import _parser as sre_parse

MAX_REPEAT_PCRE = 65535  # PCRE2's largest {n,m} bound
_ASCII = [chr(i) for i in range(128)]
# plain ints: RegexFlag's enum operators cost more than the rest of the translation
_I, _M, _S = int(re.IGNORECASE), int(re.MULTILINE), int(re.DOTALL)
_FLAG_MASK = _I | _M | _S | int(re.ASCII) | int(re.LOCALE) | int(re.UNICODE)


class Untranslatable(ValueError):
    """A construct this translator does not handle (the Python parser keeps those lines)."""


def translate(pattern: str, flags: int = 0, marks: frozenset | None = None) -> str:
    """PCRE2 source for ``re.compile(pattern, flags)``, exact on ASCII subjects.

    Compile the result with PCRE2_DOTALL and without PCRE2_UTF/UCP; its group numbers are those
    of ``re``. With ``marks`` (group numbers), the result captures nothing: those groups become
    ``(*MARK:N)`` (PCRE2 reports the last mark passed on the matching path), every other group
    a non-capturing one. Matching is the same, without the cost of a capture frame per group.
    """
    if not isinstance(pattern, str):
        raise Untranslatable("bytes patterns are not supported")
    try:
        tree = sre_parse.parse(pattern, flags)
    except re.error as exc:
        raise Untranslatable(f"not a valid re pattern: {exc}") from None
    flags = int(tree.state.flags)
    return _Writer(flags, marks).sub(tree, flags)


@lru_cache(maxsize=4096)
def _ascii_set(item: tuple, flags: int) -> frozenset:
    """The ASCII characters that one single-character item matches in ``re`` under ``flags``."""
    op, av = item
    if op is C.LITERAL and not flags & _I:
        return frozenset((av,)) if av < 128 else frozenset()
    if op is C.NOT_LITERAL and not flags & _I:
        return frozenset(i for i in range(128) if i != av)
    state = sre_parse.State()
    state.flags = flags
    sub = sre_parse.SubPattern(state, [(op, av)])
    regex = sre_compile.compile(sub, flags)
    return frozenset(i for i, ch in enumerate(_ASCII) if regex.fullmatch(ch))


@lru_cache(maxsize=4096)
def _class(chars: frozenset) -> str:
    """A PCRE2 expression matching exactly ``chars`` (a set of ASCII code points), as one atom."""
    if not chars:
        return "(?!)"
    if len(chars) == 128:  # every ASCII character, and the subject has no others: the pattern is
        return "."         # compiled dot-all without UTF, where a dot is the cheapest test
    if len(chars) == 1:
        return _char(next(iter(chars)))
    if len(chars) > 64:  # a negated class reads (and compiles) shorter
        return "[^" + _ranges(frozenset(range(128)) - chars) + "]"
    return "[" + _ranges(chars) + "]"


def _ranges(chars: frozenset) -> str:
    codes = sorted(chars)
    ranges, start, prev = [], codes[0], codes[0]
    for c in codes[1:]:
        if c == prev + 1:
            prev = c
            continue
        ranges.append((start, prev))
        start = prev = c
    ranges.append((start, prev))
    return "".join(_class_char(a) if a == b else f"{_class_char(a)}-{_class_char(b)}" for a, b in ranges)


def _char(code: int) -> str:
    ch = chr(code)
    return ch if ch.isalnum() else f"\\x{code:02x}"


def _class_char(code: int) -> str:
    ch = chr(code)
    return ch if ch.isalnum() else f"\\x{code:02x}"


_LITERAL = [_char(i) for i in range(128)]
_ANY_DOTALL = _class(frozenset(range(128)))
_ANY = _class(frozenset(range(128)) - {10})
_SINGLE = (C.LITERAL, C.NOT_LITERAL, C.IN, C.ANY, C.CATEGORY)


class _Writer:
    def __init__(self, global_flags: int, marks: frozenset | None = None):
        self.global_flags = global_flags
        self.marks = marks

    def sub(self, items, flags: int) -> str:
        item = self.item
        return "".join([item(op, av, flags) for op, av in items])

    def item(self, op, av, flags: int) -> str:
        if op is C.LITERAL and not flags & _I:
            return _LITERAL[av] if av < 128 else "(?!)"
        if op in _SINGLE:
            if op is C.ANY:
                return _ANY_DOTALL if flags & _S else _ANY
            return _class(_ascii_set((op, _freeze(av)), flags & _FLAG_MASK))
        if op is C.SUBPATTERN:
            group, add, delete, body = av
            inner = self.sub(body, (flags | add) & ~delete)
            if self.marks is not None and group is not None:
                return f"(?:{inner}(*MARK:{group}))" if group in self.marks else f"(?:{inner})"
            return f"({inner})" if group is not None else f"(?:{inner})"
        if op is C.BRANCH:
            return "(?:" + "|".join(self.sub(b, flags) for b in av[1]) + ")"
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            lo, hi, body = av
            inner = self.sub(body, flags)
            if not (len(body) == 1 and body[0][0] in _SINGLE and inner != "(?!)"):
                inner = f"(?:{inner})"  # a single character item needs no group
            return f"{inner}{self._quantifier(lo, hi)}{_REPEAT_SUFFIX[op]}"
        if op is C.AT:
            return self._at(av, flags)
        if op in (C.ASSERT, C.ASSERT_NOT):
            direction, body = av
            inner = self.sub(body, flags)
            if direction == 1:
                return f"(?={inner})" if op is C.ASSERT else f"(?!{inner})"
            return f"(?<={inner})" if op is C.ASSERT else f"(?<!{inner})"
        if op is C.ATOMIC_GROUP:
            return f"(?>{self.sub(av, flags)})"
        if op in (C.GROUPREF, C.GROUPREF_EXISTS) and self.marks is not None:
            raise Untranslatable("back-reference in a pattern translated without captures")
        if op is C.GROUPREF:
            if flags & _I:
                raise Untranslatable("back-reference under IGNORECASE")
            return f"(?:\\g{{{av}}})"
        if op is C.GROUPREF_EXISTS:
            group, yes, no = av
            out = f"(?({group}){self.sub(yes, flags)}"
            if no is not None:
                out += "|" + self.sub(no, flags)
            return out + ")"
        raise Untranslatable(f"regex construct {op} is not translated")

    @staticmethod
    def _quantifier(lo: int, hi: int) -> str:
        if lo > MAX_REPEAT_PCRE or (hi is not C.MAXREPEAT and hi > MAX_REPEAT_PCRE):
            raise Untranslatable(f"repeat bound {lo},{hi} is beyond PCRE2's {MAX_REPEAT_PCRE}")
        if hi is C.MAXREPEAT:
            return {0: "*", 1: "+"}.get(lo, f"{{{lo},}}")
        if lo == 0 and hi == 1:
            return "?"
        return f"{{{lo}}}" if lo == hi else f"{{{lo},{hi}}}"

    @staticmethod
    def _at(code, flags: int) -> str:
        multiline = flags & _M
        if code is C.AT_BEGINNING_STRING or (code is C.AT_BEGINNING and not multiline):
            return r"\A"
        if code is C.AT_BEGINNING:
            return r"(?:\A|(?<=\n))"
        if code is C.AT_END_STRING:
            return r"\z"
        if code is C.AT_END and not multiline:
            return r"(?=\n?\z)"
        if code is C.AT_END:
            return r"(?=\n|\z)"
        if code is C.AT_BOUNDARY:  # word characters of an ASCII subject: [A-Za-z0-9_] in both
            return r"\b"
        if code is C.AT_NON_BOUNDARY:
            return r"\B"
        raise Untranslatable(f"anchor {code} is not translated")


_REPEAT_SUFFIX = {C.MAX_REPEAT: "", C.MIN_REPEAT: "?", C.POSSESSIVE_REPEAT: "+"}


def _freeze(av):
    """A hashable copy of a single-character item's argument (classes are lists)."""
    if isinstance(av, list):
        return tuple((op, _freeze(a)) for op, a in av)
    if isinstance(av, tuple):
        return tuple(_freeze(a) for a in av)
    return av
