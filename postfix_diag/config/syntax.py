"""Read the text of one configuration file into logical lines and entries, by its content.

The line syntax is data: ``config.grammar`` (beside this module), read with the grammar language
of the log grammars (`postfix_diag.grammar.language`) and compiled once per process into one regex
per section. Here the bytes become physical lines (bounded, NUL bytes and invalid UTF-8 reported),
the physical lines become Postfix's logical lines (readlline.c), and each logical line is matched
against the sections to recognize the file as main.cf, master.cf or ``postconf -F``/``-P`` output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..grammar.compiler import PatternCompiler, build_matcher
from ..grammar.language import read_grammar

MAX_BYTES = 4 * 1024 * 1024  # read at most this much of one file (a real main.cf is a few KiB)
MAX_LINES = 20_000  # lines that are not blank or comments, per source (a real main.cf has < 1,000)
MAX_PROBLEMS = 20  # problems reported per source; the rest are counted in one line
SNIPPET = 60  # characters of a bad line quoted in a message

MAIN, MASTER, FP = "main.cf", "master.cf", "postconf-FP"
UNREADABLE = "unreadable"  # the kind of a source that could not be read
SYNTAXES = (MAIN, MASTER, FP)
KIND_NAMES = {MAIN: "main.cf", MASTER: "master.cf", FP: "postconf -F/-P output"}

_MESSAGES = {
    "bad_name": "bad parameter name",
    "bad_missing_equals": "missing '=' after parameter name",
    "bad_field": "bad master.cf field",
    "bad_type": "bad master.cf service type",
    "bad_missing_fields": "a master.cf entry needs 8 fields (service type private unpriv chroot wakeup maxproc command)",
    "bad_service_line": "not a service/type/name = value line",
}


def grammar_text() -> str:
    """The text of config.grammar: the installed package data, else the source tree."""
    try:
        return resources.files("postfix_diag.config").joinpath("config.grammar").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, TypeError):  # pragma: no cover - odd installs
        return (Path(__file__).with_name("config.grammar")).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _grammar():
    gf = read_grammar(grammar_text(), "config.grammar")
    return gf, PatternCompiler(gf.tokens)


@lru_cache(maxsize=1)
def matchers() -> dict:
    """{section: Matcher} compiled from config.grammar, once per process."""
    gf, compiler = _grammar()
    sections = {}
    for name in SYNTAXES:
        rules = [r for r in gf.rules if name in r.programs]
        if not rules:
            raise ValueError(f"config.grammar: no rules for {name}")
        sections[name] = build_matcher(rules, compiler)
    return sections


@dataclass(frozen=True)
class Problem:
    """One problem in a configuration source, shown as ``file:line: message``."""

    file: str
    line: int
    message: str
    severity: str = "error"  # "error": Postfix would refuse it; "warning": Postfix warns or we guessed

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "severity": self.severity, "message": self.message}


@dataclass
class Entry:
    """One logical line that matched a rule: ``kind`` is the rule, ``fields`` its captures."""

    kind: str
    line: int
    fields: dict
    text: str


@dataclass
class Parsed:
    name: str
    kind: str | None  # MAIN, MASTER, FP or None (not recognized)
    lines: int  # physical lines read
    entries: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    truncated: bool = False


def snippet(text: str) -> str:
    """A short, printable quotation of untrusted text for a one-line message."""
    short = text[:SNIPPET]
    out = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}"
                  for c in short)
    return repr(out + ("..." if len(text) > SNIPPET else ""))


class _Problems(list):
    """A problem list that stops growing after MAX_PROBLEMS and counts the rest."""

    def __init__(self, name: str):
        super().__init__()
        self.name, self.dropped = name, 0

    def add(self, line: int, message: str, severity: str = "error") -> None:
        if len(self) < MAX_PROBLEMS:
            self.append(Problem(self.name, line, message, severity))
        else:
            self.dropped += 1

    def close(self) -> list:
        out = list(self)
        if self.dropped:
            out.append(Problem(self.name, 0, f"{self.dropped} more problems not shown", "warning"))
        return out


@lru_cache(maxsize=1)
def _line_regexes():
    """From the grammar's ``physical`` section: a regex finding the lines that are neither blank
    nor comments (one C-level scan of the text, not a Python step per line), and one telling a
    continuation line."""
    gf, compiler = _grammar()
    src = {r.kind: compiler.compile(r.pattern, r.kind)[0] for r in gf.rules if "physical" in r.programs}
    content = re.compile(rf"^(?!(?:{src['blank']}|{src['comment']})$).+$", re.M)
    return content, re.compile(src["continuation"].replace("(.*)", "(?:.*)"))


def _decode(data: bytes, problems: _Problems) -> str:
    """The text of a source: lines with NUL bytes removed, invalid UTF-8 shown as U+FFFD; the
    first MAX_PROBLEMS such lines are reported with their numbers."""
    if b"\0" in data:
        for m in re.finditer(rb"[^\n]*\x00[^\n]*", data):
            problems.add(data.count(b"\n", 0, m.start()) + 1, "NUL byte in line: line ignored")
            if len(problems) >= MAX_PROBLEMS:
                break
        data = re.sub(rb"[^\n]*\x00[^\n]*", b"", data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
    last = 0
    for m in re.finditer("\ufffd", text):
        line = text.count("\n", 0, m.start()) + 1
        if line != last:
            problems.add(line, "invalid UTF-8 (bytes shown as U+FFFD)", "warning")
            last = line
        if len(problems) >= MAX_PROBLEMS:
            break
    return text


def logical_lines(text: str, problems: _Problems):
    """Postfix's readllines(): a line starting with whitespace continues the logical line;
    comment and blank lines are skipped, also inside a logical line. Yields (first line number,
    text). At most MAX_LINES lines that are not blank or comments are read."""
    content, continuation = _line_regexes()
    current: list | None = None
    start = number = pos = seen = 0
    for m in content.finditer(text):
        number += text.count("\n", pos, m.start())
        pos = m.start()
        line = m.group()
        seen += 1
        if seen > MAX_LINES:
            problems.add(number + 1, f"more than {MAX_LINES} lines that are not blank or comments: "
                                     "the rest is not read")
            break
        if continuation.match(line):
            if current is None:
                problems.add(number + 1, "logical line must not start with whitespace: "
                                         f"{snippet(line.strip())}", "warning")
            else:
                current.append(line)
            continue
        if current is not None:
            yield start, "".join(current)
        current, start = [line], number + 1
    if current is not None:
        yield start, "".join(current)


def parse_bytes(data: bytes, name: str, kind: str | None = None) -> Parsed:
    """Parse one source. ``kind`` None means: recognize it by content."""
    problems = _Problems(name)
    truncated = len(data) > MAX_BYTES
    if truncated:
        data = data[:MAX_BYTES]
        problems.add(0, f"larger than {MAX_BYTES // (1024 * 1024)} MiB: only the first "
                        f"{MAX_BYTES // (1024 * 1024)} MiB were read")
    nlines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    logical = list(logical_lines(_decode(data, problems), problems))
    if kind is None:
        kind = recognize(logical)
    parsed = Parsed(name=name, kind=kind, lines=nlines, truncated=truncated)
    if kind is None:  # the verdict on the whole file comes first, whatever else was found
        if logical:
            verdict = Problem(name, logical[0][0], "not a Postfix configuration file: no line has main.cf "
                                                   f"or master.cf syntax (first line {snippet(logical[0][1])})")
        else:
            verdict = Problem(name, 0, "no configuration lines (empty, or only comments)", "warning")
        parsed.problems = [verdict, *problems.close()]
        return parsed
    matcher = matchers()[kind]
    for number, text in logical:
        m = matcher.match(text)
        if m is None:  # pragma: no cover - every section ends with a catch-all rule
            problems.add(number, f"unreadable line {snippet(text)}")
            continue
        info, fields = m
        if info.kind.startswith("bad_"):
            detail = _bad_field(fields) if info.kind == "bad_field" else ""
            problems.add(number, f"{_MESSAGES.get(info.kind, info.kind)}{detail}: {snippet(text)}")
            continue
        parsed.entries.append(Entry(info.kind, number, fields, text))
    parsed.problems = problems.close()
    return parsed


def _bad_field(fields: dict) -> str:
    """Which field of a master.cf line is bad, as master(8) would say."""
    checks = (("private", "yn-"), ("unpriv", "yn-"), ("chroot", "yn-"))
    for name, allowed in checks:
        if fields.get(name, "-") not in tuple(allowed):
            return f" {name} {fields[name]!r} (y, n or -)"
    wakeup = fields.get("wakeup", "-")
    if wakeup != "-" and not wakeup.rstrip("?").isdigit():
        return f" wakeup {wakeup!r} (seconds, optionally followed by ?, or -)"
    maxproc = fields.get("maxproc", "-")
    if maxproc != "-" and not maxproc.isdigit():
        return f" maxproc {maxproc!r} (a number or -)"
    return ""


def recognize(logical: list) -> str | None:
    """The syntax that most logical lines match (main.cf, master.cf or postconf -F/-P), or None
    when none fits at least a fifth of them."""
    ms = matchers()
    scores = dict.fromkeys(SYNTAXES, 0)
    for _, text in logical[:2000]:  # a sample is enough to tell them apart
        for kind in SYNTAXES:
            m = ms[kind].match(text)
            if m is not None and not m[0].kind.startswith("bad_"):
                scores[kind] += 1
    best = max(SYNTAXES, key=lambda k: scores[k])
    # a fifth of the lines must fit: one line of junk that happens to read "x = y" makes no main.cf
    return best if scores[best] and scores[best] * 5 >= min(len(logical), 2000) else None


# --- splitting values: Postfix's mystrtokq() -------------------------------------------------------
LIST_SEPARATORS = ", \t\r\n"  # CHARS_COMMA_SP: list-valued parameters
BLANKS = " \t\r\n\v\f"  # master.cf fields and arguments


def split_quoted(text: str, separators: str = LIST_SEPARATORS) -> list[str]:
    """Split like Postfix's mystrtokq(): on separators, but text inside balanced ``{}`` stays one
    token (``inline:{ a=b, c=d }``). An unbalanced ``{`` runs to the end of the text."""
    if "{" not in text:
        return [t for t in _splitter(separators).split(text) if t]
    out, level, prev = [], 0, 0
    for m in _brace_splitter(separators).finditer(text):  # jumps from bracket to separator run
        g = m.group()
        if g == "{":
            level += 1
        elif g == "}":
            level -= 1 if level else 0
        elif level == 0:
            if m.start() > prev:
                out.append(text[prev:m.start()])
            prev = m.end()
    if prev < len(text):
        out.append(text[prev:])
    return out


@lru_cache(maxsize=8)
def _splitter(separators: str):
    return re.compile(f"[{re.escape(separators)}]+")


@lru_cache(maxsize=8)
def _brace_splitter(separators: str):
    return re.compile(f"[{{}}]|[{re.escape(separators)}]+")


def strip_braces(token: str) -> str:
    """``{ text }`` → ``text`` (Postfix's extpar with EXTPAR_FLAG_STRIP); other tokens unchanged."""
    if token.startswith("{") and token.endswith("}"):
        return token[1:-1].strip(BLANKS)
    return token
