"""Compile grammar rules into fast matchers (one ``re`` alternation per program and severity).

Every rule becomes one alternative wrapped in its own capturing group. Python's ``re`` sets
``lastindex`` to the group that closed last, which for an alternative wrapped like that is
the wrapper itself, so one ``match`` call tells both *which* rule matched and, through a
precomputed list of group numbers, *which* fields it captured. No pyparsing at run time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .language import Capture, Choice, GrammarError, Literal, Optional_, Regex, Rule, TokenDef, TokenRef

CONVERTERS = {None: None, "int": int, "float": float}
FLAGS = re.DOTALL  # of every matcher's regex


@dataclass(frozen=True)
class RuleInfo:
    kind: str
    severity: str
    fields: tuple  # ((name, converter or None), ...)
    group_indexes: tuple  # group numbers of the fields, same order
    source: str  # "file:line" of the rule, for error messages and `grammar` listings

    @property
    def names(self) -> tuple:
        return tuple(n for n, _ in self.fields)

    @property
    def conversions(self) -> tuple:
        """((name, converter), ...) for the fields that are converted (ints, floats)."""
        return tuple((n, c) for n, c in self.fields if c is not None)


QID_FIELD, QID_TOKEN = "qid", "qid"


def _qid_tail(rule):
    """The rest of a rule that starts with ``qid:qid ": "``, or None. Such rules are compiled
    behind one shared queue-id prefix, so a line's queue id is scanned once, not once per rule."""
    p = rule.pattern
    if (len(p) >= 2 and isinstance(p[0], Capture) and p[0].name == QID_FIELD and p[0].token == QID_TOKEN
            and p[0].regex is None):
        rest = _strip_prefix(p[1:], ": ")
        return rest if rest else None
    return None


def _strip_prefix(items: tuple, prefix: str):
    """``items`` without a leading literal ``prefix`` (also inside a leading choice), or None."""
    if not items:
        return None
    first = items[0]
    if isinstance(first, Literal) and first.text.startswith(prefix):
        rest = first.text[len(prefix):]
        return ((Literal(rest),) if rest else ()) + tuple(items[1:])
    if isinstance(first, Choice):
        alts = [_strip_prefix(tuple(a), prefix) for a in first.alternatives]
        if all(a for a in alts):
            return (Choice(tuple(alts)),) + tuple(items[1:])
    return None


def matcher_source(rules: list, compiled: list, compiler=None) -> tuple[str, dict]:
    """The alternation of ``rules`` (their ``compiled`` (source, fields, groups), in order) and
    its ``{marker group: RuleInfo}``: what a `Matcher` is made of, as plain data (the grammar
    cache keeps it; see `Matcher` for the layout)."""
    by_group: dict = {}
    tails, plain = [], []
    for rule, comp in zip(rules, compiled, strict=True):
        tail = _qid_tail(rule) if compiler is not None else None
        if tail is not None:
            tails.append((rule, compiler.compile(tail, rule.kind)))
        else:
            plain.append((rule, comp))
    group = 0
    parts_tail, parts_plain = [], []
    qid_group = None
    if tails:
        qid_tok = compiler.tokens[QID_TOKEN]
        group = qid_group = 1
        qid_conv = CONVERTERS[qid_tok.convert]
    for target, items, with_qid in ((parts_tail, tails, True), (parts_plain, plain, False)):
        for rule, (source, fields, ngroups) in items:
            base = group
            marker = base + ngroups + 1
            names = [(n, c) for _, (n, c) in fields]
            indexes = [base + i for i, _ in fields]
            if with_qid:
                names.insert(0, (QID_FIELD, qid_conv))
                indexes.insert(0, qid_group)
            by_group[marker] = RuleInfo(rule.kind, rule.severity, tuple(names), tuple(indexes),
                                        f"{rule.file}:{rule.line}")
            target.append(f"{source}()")
            group = marker
    alternatives = []
    if parts_tail:
        alternatives.append(f"({compiler._terminal(compiler.tokens[QID_TOKEN])}): (?:" + "|".join(parts_tail) + ")")
    alternatives.extend(parts_plain)
    assert len(by_group) == len(rules)
    return ("(?:" + "|".join(alternatives) + r")\Z") if alternatives else "", by_group


class Matcher:
    """One compiled alternation: ``match(text)`` returns ``(RuleInfo, fields dict)`` or ``None``.

    Layout: ``(?:(QID): (?:TAIL1()|TAIL2()|...)|RULE1()|RULE2()|...)\\Z``. Each alternative ends
    with an empty marker group; the marker closes last, so ``lastindex`` names the rule. No
    wrapper group comes first, so ``re`` can skip an alternative on its first literal character.
    Rules behind the queue-id prefix are tried before the others; if none of them matches,
    ``re`` backtracks into the plain rules, so every rule still gets its chance.
    Made from `matcher_source`'s (source, by_group); an empty source matches nothing.
    """

    __slots__ = ("regex", "by_group", "rules")

    def __init__(self, source: str, by_group: dict, regex: re.Pattern | None = None):
        self.by_group = by_group
        self.rules = [by_group[k] for k in sorted(by_group)]
        if regex is None and source:
            regex = re.compile(source, FLAGS)
        self.regex = regex
        if self.regex is not None and self.regex.groups != max(by_group, default=0):
            raise GrammarError(f"matcher of {len(by_group)} rules has {self.regex.groups} groups, "
                               f"its last marker is group {max(by_group, default=0)}")

    def match(self, text: str):
        if self.regex is None:
            return None
        m = self.regex.match(text)
        if m is None:
            return None
        info = self.by_group[m.lastindex]
        idx = info.group_indexes
        if not idx:
            return info, {}
        values = m.group(*idx) if len(idx) > 1 else (m.group(idx[0]),)
        out = {}
        for (name, conv), value in zip(info.fields, values, strict=True):
            if value is None:
                continue
            if conv is not None:
                try:
                    value = conv(value)
                except ValueError:
                    pass
            out[name] = value
        return info, out


class PatternCompiler:
    """Turns pattern ASTs into regex source, resolving tokens from one shared namespace."""

    def __init__(self, tokens: dict):
        self.tokens = tokens
        self._terminal_cache: dict = {}

    def _terminal(self, tok: TokenDef) -> str:
        cached = self._terminal_cache.get(tok.name)
        if cached is None:
            try:
                if re.compile(tok.regex).groups:
                    raise GrammarError(f"{tok.file}:{tok.line}: token {tok.name}: use (?:...) instead of "
                                       "capturing groups")
            except re.error as exc:
                raise GrammarError(f"{tok.file}:{tok.line}: token {tok.name}: bad regex: {exc}") from None
            cached = self._terminal_cache[tok.name] = tok.regex
        return cached

    def _token(self, name: str, where: str) -> TokenDef:
        tok = self.tokens.get(name)
        if tok is None:
            raise GrammarError(f"{where}: unknown token {name!r}")
        return tok

    def compile(self, items, where: str, _depth: int = 0):
        """Return (regex_source, [(relative_group_index, (field, converter))], group_count)."""
        if _depth > 20:
            raise GrammarError(f"{where}: tokens nested too deep (a token refers to itself?)")
        out, fields, groups = [], [], 0

        def sub(sub_items):
            nonlocal groups
            src, sub_fields, n = self.compile(sub_items, where, _depth + 1)
            fields.extend((groups + i, f) for i, f in sub_fields)
            groups += n
            return src

        for item in items:
            if isinstance(item, Literal):
                out.append(re.escape(item.text))
            elif isinstance(item, Regex):
                _check_inline(item.source, where)
                out.append(f"(?:{item.source})")
            elif isinstance(item, Capture) and item.regex is not None:
                _check_inline(item.regex, where)
                groups += 1
                fields.append((groups, (item.name, None)))
                out.append(f"({item.regex})")
            elif isinstance(item, Capture):
                tok = self._token(item.token, where)
                groups += 1
                fields.append((groups, (item.name, CONVERTERS[tok.convert])))
                if tok.regex is not None:
                    out.append(f"({self._terminal(tok)})")
                else:  # capture the text of a composite token, dropping its inner captures
                    src, _, n = self.compile(tok.pattern, where, _depth + 1)
                    out.append(f"({_strip_captures(src)})")
            elif isinstance(item, TokenRef):
                tok = self._token(item.token, where)
                if tok.regex is not None:
                    out.append(f"(?:{self._terminal(tok)})")
                elif item.capture:
                    out.append(f"(?:{sub(tok.pattern)})")
                else:
                    src, _, _ = self.compile(tok.pattern, where, _depth + 1)
                    out.append(f"(?:{_strip_captures(src)})")
            elif isinstance(item, Optional_):
                out.append(f"(?:{sub(item.items)})?")
            elif isinstance(item, Choice):
                out.append("(?:" + "|".join(sub(alt) for alt in item.alternatives) + ")")
            else:  # pragma: no cover - the reader only builds the types above
                raise GrammarError(f"{where}: unexpected pattern item {item!r}")
        return "".join(out), fields, groups


def _check_inline(source: str, where: str) -> None:
    try:
        groups = re.compile(source).groups
    except re.error as exc:
        raise GrammarError(f"{where}: bad regex /{source}/: {exc}") from None
    if groups:
        raise GrammarError(f"{where}: inline regex must not capture: /{source}/")


def _strip_captures(src: str) -> str:
    """Turn capturing groups of generated source into non-capturing ones."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if c == "\\" and i + 1 < n:
            out.append(src[i : i + 2])
            i += 2
            continue
        if c == "[":  # copy a character class verbatim
            j = i + 1
            if j < n and src[j] == "^":
                j += 1
            if j < n and src[j] == "]":
                j += 1
            while j < n and src[j] != "]":
                j += 2 if src[j] == "\\" else 1
            out.append(src[i : j + 1])
            i = j + 1
            continue
        if c == "(" and not src.startswith("(?", i):
            out.append("(?:")
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def build_source(rules: list[Rule], compiler: PatternCompiler) -> tuple[str, dict]:
    """Check every rule's regex and return the (source, by_group) of their `Matcher`."""
    compiled = []
    for rule in rules:
        where = f"{rule.file}:{rule.line} ({rule.kind})"
        src, fields, n = compiler.compile(rule.pattern, where)
        try:
            re.compile(src)
        except re.error as exc:
            raise GrammarError(f"{where}: compiles to a bad regex: {exc}") from None
        compiled.append((src, fields, n))
    return matcher_source(rules, compiled, compiler)


def build_matcher(rules: list[Rule], compiler: PatternCompiler) -> Matcher:
    return Matcher(*build_source(rules, compiler))
