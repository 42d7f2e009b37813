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


@dataclass(frozen=True)
class RuleInfo:
    kind: str
    severity: str
    fields: tuple  # ((name, converter or None), ...)
    group_indexes: tuple  # group numbers of the fields, same order
    source: str  # "file:line" of the rule, for error messages and `grammar` listings


class Matcher:
    """One compiled alternation: ``match(text)`` returns ``(RuleInfo, fields dict)`` or ``None``."""

    __slots__ = ("regex", "by_group", "rules")

    def __init__(self, rules: list, compiled: list):
        parts, by_group, group = [], {}, 0
        for rule, (source, fields, ngroups) in zip(rules, compiled, strict=True):
            outer = group + 1
            indexes = tuple(outer + i for i, _ in fields)
            info = RuleInfo(rule.kind, rule.severity, tuple((n, c) for _, (n, c) in fields), indexes,
                            f"{rule.file}:{rule.line}")
            by_group[outer] = info
            parts.append(f"({source})")
            group += 1 + ngroups
        self.rules = [by_group[k] for k in sorted(by_group)]
        self.by_group = by_group
        self.regex = re.compile("(?:" + "|".join(parts) + r")\Z", re.DOTALL) if parts else None

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
                    raise GrammarError(f"token {tok.name}: use (?:...) instead of capturing groups")
            except re.error as exc:
                raise GrammarError(f"token {tok.name}: bad regex: {exc}") from None
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
                if re.compile(item.source).groups:
                    raise GrammarError(f"{where}: inline regex must not capture: /{item.source}/")
                out.append(f"(?:{item.source})")
            elif isinstance(item, Capture) and item.regex is not None:
                if re.compile(item.regex).groups:
                    raise GrammarError(f"{where}: inline regex must not capture: /{item.regex}/")
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


def build_matcher(rules: list[Rule], compiler: PatternCompiler) -> Matcher:
    compiled = []
    for rule in rules:
        where = f"{rule.file}:{rule.line} ({rule.kind})"
        src, fields, n = compiler.compile(rule.pattern, where)
        try:
            re.compile(src)
        except re.error as exc:
            raise GrammarError(f"{where}: compiles to a bad regex: {exc}") from None
        compiled.append((src, fields, n))
    return Matcher(rules, compiled)
