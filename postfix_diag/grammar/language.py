"""Read grammar files (the language documented in postfix_diag/grammars/README.md) with pyparsing.

This module only *reads*: it turns the text of a ``.grammar`` file into plain data
(`GrammarFile` with tokens, rules and the program sections they belong to).
`postfix_diag.grammar.compiler` turns that data into regular expressions. pyparsing
never runs on log lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyparsing as pp

SEVERITIES = ("info", "warning", "error", "fatal", "panic")


class GrammarError(ValueError):
    """A grammar file is malformed; the message names the file and line."""


# --- pattern AST -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Literal:
    text: str


@dataclass(frozen=True)
class Regex:
    source: str


@dataclass(frozen=True)
class Capture:
    name: str
    token: str | None
    regex: str | None = None  # ``name:/regex/`` captures an inline regex


@dataclass(frozen=True)
class TokenRef:
    token: str
    capture: bool = False  # ``@token`` inlines a composite token with its captures


@dataclass(frozen=True)
class Optional_:
    items: tuple


@dataclass(frozen=True)
class Choice:
    alternatives: tuple  # tuple of tuples of items


@dataclass
class TokenDef:
    name: str
    regex: str | None = None  # terminal token
    pattern: tuple | None = None  # composite token
    convert: str | None = None  # "int" or "float"
    line: int = 0
    file: str = ""


@dataclass
class Rule:
    kind: str
    severity: str
    pattern: tuple
    programs: tuple
    file: str
    line: int


@dataclass
class GrammarFile:
    name: str
    tokens: dict = field(default_factory=dict)
    rules: list = field(default_factory=list)


# --- the pyparsing grammar of the grammar language -------------------------------------------------
def _build_parser():
    ident = pp.Word(pp.alphas + "_", pp.alphanums + "_-")
    literal = pp.QuotedString('"', esc_char="\\").set_parse_action(lambda t: Literal(t[0]))
    regex = pp.QuotedString("/", esc_quote="\\/", convert_whitespace_escapes=False)
    regex_item = regex.copy().set_parse_action(lambda t: Regex(t[0]))
    capture = pp.Combine(ident + ":" + ident).set_parse_action(lambda t: Capture(*t[0].split(":", 1)))
    capture_re = (pp.Combine(ident + pp.Suppress(":")) + regex).set_parse_action(
        lambda t: Capture(t[0], None, t[1])
    )
    inline = pp.Combine(pp.Suppress("@") + ident).set_parse_action(lambda t: TokenRef(t[0], True))
    bare = ident.copy().set_parse_action(lambda t: TokenRef(t[0], False))

    pattern = pp.Forward()
    alt_body = pp.Group(pattern) + pp.ZeroOrMore(pp.Suppress("|") + pp.Group(pattern))
    optional = (pp.Suppress("[") + alt_body + pp.Suppress("]")).set_parse_action(
        lambda t: Optional_(tuple(t[0]) if len(t) == 1 else (Choice(tuple(tuple(a) for a in t)),))
    )
    choice = (pp.Suppress("(") + alt_body + pp.Suppress(")")).set_parse_action(
        lambda t: Choice(tuple(tuple(a) for a in t))
    )
    item = literal | regex_item | optional | choice | capture_re | capture | inline | bare
    pattern <<= pp.OneOrMore(item)

    severity = pp.one_of(SEVERITIES)
    rule = (
        ident("kind")
        + pp.Optional(pp.Suppress("/") + severity("severity"))
        + pp.Suppress(":")
        + pp.Group(pattern)("pattern")
        + pp.StringEnd()
    )
    convert = pp.Suppress(pp.Keyword("as")) + pp.one_of("int float")("convert")
    token = (
        pp.Suppress(pp.Keyword("token"))
        + ident("name")
        + pp.Suppress("=")
        + (regex("regex") | pp.Group(pattern)("pattern"))
        + pp.Optional(convert)
        + pp.StringEnd()
    )
    programs = (
        pp.Suppress(pp.Keyword("@programs"))
        + pp.Group(pp.OneOrMore(pp.Word(pp.alphanums + "_-*.")))("programs")
        + pp.StringEnd()
    )
    return rule, token, programs


_RULE, _TOKEN, _PROGRAMS = _build_parser()


def _logical_lines(text: str):
    """Yield (line_number, text) with comments dropped and indented continuation lines joined."""
    current, start = None, 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if raw[0] in " \t" and current is not None:
            current += " " + stripped
            continue
        if current is not None:
            yield start, current
        current, start = stripped, number
    if current is not None:
        yield start, current


def read_grammar(text: str, name: str = "<string>") -> GrammarFile:
    """Parse the text of one grammar file."""
    result = GrammarFile(name=name)
    programs: tuple = ()
    for number, line in _logical_lines(text):
        try:
            if line.startswith("@programs"):
                programs = tuple(_PROGRAMS.parse_string(line)["programs"])
            elif line.startswith("token "):
                t = _TOKEN.parse_string(line)
                tok = TokenDef(name=t["name"], convert=t.get("convert"), line=number, file=name)
                if "regex" in t:
                    tok.regex = t["regex"]
                else:
                    tok.pattern = tuple(t["pattern"])
                result.tokens[tok.name] = tok
            else:
                r = _RULE.parse_string(line)
                result.rules.append(
                    Rule(
                        kind=r["kind"],
                        severity=r.get("severity", "info"),
                        pattern=tuple(r["pattern"]),
                        programs=programs,
                        file=name,
                        line=number,
                    )
                )
        except pp.ParseBaseException as exc:
            raise GrammarError(f"{name}:{number}: cannot read grammar line: {exc.msg}: {line[:80]!r}") from None
    return result
