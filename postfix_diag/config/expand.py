"""``$name`` expansion of parameter values, as Postfix's mac_parse(3)/mac_expand(3) do it.

Supported (postconf(5) "SYNTAX", Postfix 3.7): ``$name``, ``${name}``, ``$(name)``, ``$$``,
``${name?value}``, ``${name?{value}}``, ``${name:value}``, ``${name:{value}}``,
``${name?{value1}:{value2}}``, and relational expressions ``${{v3} == {v4} ? {..} : {..}}`` with
``== != < <= >= >`` (numeric when both sides are all digits) and the compatibility-level operators
``<level`` etc. that Postfix's own defaults use (``${{$compatibility_level} <level {2} ? ...}``).

Bounded for hostile input: at most ``MAX_LEVEL`` nested expansions (Postfix's own limit: a
cycle like ``a = $b``, ``b = $a`` stops there), ``max_calls`` expansions per value and
``max_output`` characters of result; past a bound an `ExpansionError` is raised, never a
RecursionError or runaway memory. Brackets are matched once per value (a stack pass), so deeply
nested text costs no rescans.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_LEVEL = 100  # mac_expand.c: "unreasonable macro call nesting" past 100
MAX_CALLS = 20_000
MAX_OUTPUT = 4 * 1024 * 1024
WHITESPACE = " \t\r\n"  # CHARS_SPACE
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
_OP_CHARS = "<>!=?+-*/~&|%"
_NAME_RE = re.compile(r"[A-Za-z0-9_]+")
_BRACKETS = re.compile(r"[{}()]")


class ExpansionError(ValueError):
    """A value cannot be expanded (syntax error, nesting too deep, result too large)."""


class _Unknown(ExpansionError):
    """A relational operand depends on a value not known here."""


@dataclass
class Expansion:
    """The result of expanding one value."""

    text: str
    undefined: set = field(default_factory=set)  # names with no value and no default (expanded empty)
    unknown: set = field(default_factory=set)  # names whose value is not known here (kept as $name)


UNKNOWN = object()  # a lookup result: the parameter exists but its value is not known here


class _Text:
    """A value with its matching brackets: ``close[i]`` is the index of the bracket closing the
    one at ``i`` (``{}`` and ``()`` each balanced on their own, as mac_parse counts them)."""

    __slots__ = ("s", "close")

    def __init__(self, s: str):
        self.s = s
        self.close: dict[int, int] = {}
        stacks: dict[str, list] = {"{": [], "(": []}
        for m in _BRACKETS.finditer(s):
            c, i = m.group(), m.start()
            if c in "{(":
                stacks[c].append(i)
            else:
                stack = stacks["{" if c == "}" else "("]
                if stack:
                    self.close[stack.pop()] = i


class _Context:
    __slots__ = ("lookup", "calls", "level", "out_len", "result", "max_calls", "max_output",
                 "unknown_hits", "texts")

    def __init__(self, lookup, max_calls: int, max_output: int):
        self.lookup = lookup
        self.calls = self.level = self.out_len = self.unknown_hits = 0
        self.result = Expansion("")
        self.max_calls, self.max_output = max_calls, max_output
        self.texts: dict[str, _Text] = {}

    def text(self, s: str) -> _Text:
        t = self.texts.get(s)
        if t is None:
            if len(self.texts) > 1000:
                self.texts.clear()
            t = self.texts[s] = _Text(s)
        return t


def expand(value: str, lookup, *, max_calls: int = MAX_CALLS, max_output: int = MAX_OUTPUT) -> Expansion:
    """Expand ``value``. ``lookup(name)`` returns the raw value of a parameter, None when it is
    undefined (expands to empty, as in Postfix), or `UNKNOWN` when it has a value this tool cannot
    know (a default Postfix computes on the host, like ``myhostname``): then ``$name`` stays in
    the text and the name is listed in ``Expansion.unknown``."""
    ctx = _Context(lookup, max_calls, max_output)
    parts: list[str] = []
    t = ctx.text(value)
    _parse(t, 0, len(value), ctx, parts)
    ctx.result.text = "".join(parts)
    return ctx.result


def _emit(ctx: _Context, parts: list, text: str) -> None:
    ctx.out_len += len(text)
    if ctx.out_len > ctx.max_output:
        raise ExpansionError(f"expansion larger than {ctx.max_output} characters")
    parts.append(text)


def _parse(t: _Text, i: int, n: int, ctx: _Context, parts: list) -> None:
    """mac_parse() of t.s[i:n]: literal text and $ expressions, each handed to _expr()."""
    s = t.s
    literal: list[str] = []
    while i < n:
        j = s.find("$", i, n)
        if j < 0:
            literal.append(s[i:n])
            break
        literal.append(s[i:j])
        if j + 1 < n and s[j + 1] == "$":  # $$ becomes $
            literal.append("$")
            i = j + 2
            continue
        if literal:
            _emit(ctx, parts, "".join(literal))
            literal = []
        k = j + 1
        if k < n and s[k] in "({":
            close = t.close.get(k)
            if close is None or close >= n:
                raise ExpansionError(f"truncated macro reference: {s[j:min(n, j + 40)]!r}")
            start, end, i = k + 1, close, close + 1
        else:
            m = _NAME_RE.match(s, k, n)
            start = k
            end = i = m.end() if m else k
        if start == end:
            raise ExpansionError(f"empty macro name in {s[max(0, j - 20):min(n, j + 20)]!r}")
        _expr(t, start, end, s[j:i], ctx, parts)
    if literal:
        _emit(ctx, parts, "".join(literal))


def _skip_ws(s: str, i: int, n: int) -> int:
    while i < n and s[i] in WHITESPACE:
        i += 1
    return i


def _curly(t: _Text, i: int, n: int):
    """At t.s[i] == '{': (payload start, payload end, index after the '}' and whitespace)."""
    close = t.close.get(i)
    if close is None or close >= n:
        raise ExpansionError(f"unbalanced {{}} in attribute expression: {t.s[i:min(n, i + 40)]!r}")
    return i + 1, close, _skip_ws(t.s, close + 1, n)


def _operand(t: _Text, i: int, n: int, ctx: _Context):
    """A ``{...}`` result operand or the rest of the expression: (start, end, next index)."""
    j = _skip_ws(t.s, i, n)
    if j < n and t.s[j] == "{":
        return _curly(t, j, n)
    return i, n, n


def _expr(t: _Text, i: int, n: int, source: str, ctx: _Context, parts: list) -> None:
    """mac_expand_callback() for the expression t.s[i:n] (``source`` is the whole ``$...``)."""
    s = t.s
    ctx.calls += 1
    if ctx.calls > ctx.max_calls:
        raise ExpansionError(f"more than {ctx.max_calls} expansions (exponential $name references?)")
    ctx.level += 1
    if ctx.level > MAX_LEVEL:
        raise ExpansionError(f"unreasonable macro call nesting: {s[i:min(n, i + 40)]!r} (a $name cycle?)")
    try:
        i = _skip_ws(s, i, n)
        if i < n and s[i] == "{":
            try:
                lookup, i = _relational(t, i, n, ctx)
            except _Unknown:  # an operand depends on a value not known here: keep it whole
                _emit(ctx, parts, source)
                return
            if i < n and s[i] not in "?:":
                raise ExpansionError(f"'?' or ':' expected at: {s[i:min(n, i + 20)]!r}")
            op = s[i] if i < n else ""
            i += 1 if op else 0
        else:
            m = _NAME_RE.match(s, i, n)
            end = m.end() if m else i
            rest = _skip_ws(s, end, n)
            if end == i or rest < n and s[rest] not in "?:":
                raise ExpansionError(f"attribute name syntax error at: {s[i:min(n, i + 40)]!r}")
            name = s[i:end]
            op = s[rest] if rest < n else ""
            i = rest + 1 if op else rest
            lookup = ctx.lookup(name)
            if lookup is UNKNOWN:  # computed on the host: keep the reference (or conditional) whole
                ctx.result.unknown.add(name)
                ctx.unknown_hits += 1
                _emit(ctx, parts, source)
                return
            if lookup is None and not op:
                ctx.result.undefined.add(name)
                return
        true = lookup is not None and lookup != ""
        if op == "?":
            a, b, i = _operand(t, i, n, ctx)
            if true:
                _parse(t, a, b, ctx, parts)
            if i < n:
                if s[i] != ":":
                    raise ExpansionError(f"':' expected at: {s[i:min(n, i + 20)]!r}")
                i += 1
                op = ":"
        if op == ":":
            a, b, i = _operand(t, i, n, ctx)
            if not true:
                _parse(t, a, b, ctx, parts)
            if i < n:
                raise ExpansionError(f"unexpected input at: {s[i:min(n, i + 20)]!r}")
        elif not op and lookup:
            value = ctx.text(lookup)
            _parse(value, 0, len(lookup), ctx, parts)
    finally:
        ctx.level -= 1


def _relational(t: _Text, i: int, n: int, ctx: _Context):
    """``{left} OP {right}`` at t.s[i]: ("true" or "", index after it)."""
    s = t.s
    la, lb, i = _curly(t, i, n)
    j = i
    while j < n and s[j] in _OP_CHARS:
        j += 1
    op = s[i:j]
    if op not in _OPERATORS:
        raise ExpansionError(f"'==', '!=', '<', '<=', '>=' or '>' expected at: {s[i:min(n, i + 20)]!r}")
    k = j
    while k < n and s[k].isalnum():
        k += 1
    suffix = s[j:k]
    if suffix not in ("", "level"):
        raise ExpansionError(f"bad operator suffix {suffix!r}")
    i = _skip_ws(s, k, n)
    if i >= n or s[i] != "{":
        raise ExpansionError(f"'{{expression}}' expected after {op}{suffix}")
    ra, rb, i = _curly(t, i, n)
    hits = ctx.unknown_hits
    left: list[str] = []
    right: list[str] = []
    _parse(t, la, lb, ctx, left)
    _parse(t, ra, rb, ctx, right)
    if ctx.unknown_hits != hits:  # an operand kept an unknown $name: the comparison is unknown
        raise _Unknown()
    a, b = "".join(left), "".join(right)
    if suffix == "level":
        a_key, b_key = _level(a), _level(b)
    elif a.isdigit() and b.isdigit():
        a_key, b_key = int(a), int(b)
    else:
        a_key, b_key = a, b
    result = {"==": a_key == b_key, "!=": a_key != b_key, "<": a_key < b_key, "<=": a_key <= b_key,
              ">=": a_key >= b_key, ">": a_key > b_key}[op]
    return ("true" if result else ""), i


def _level(text: str) -> tuple:
    """A compatibility level "major[.minor[.patch]]" as a comparable tuple (compat_level.c)."""
    parts = text.strip().split(".")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise ExpansionError(f"bad compatibility level {text!r}")
    return tuple(int(p) for p in parts) + (0,) * (3 - len(parts))
