"""Grammar files → compiled matchers.

`load()` reads every ``*.grammar`` file shipped in the package (or a given directory), checks
them, and returns a `Grammar`: the envelope matcher plus one matcher per (program, severity).
The result is cached: reading and compiling happens once per process.
"""

from __future__ import annotations

from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path

from .compiler import Matcher, PatternCompiler, build_matcher
from .language import SEVERITIES, GrammarError, GrammarFile, read_grammar

__all__ = ["Grammar", "GrammarError", "load", "grammar_files", "read_grammar"]

ENVELOPE = "envelope"
ANY = "*"


def grammar_files():
    """The grammar files shipped in the package, as importlib.resources Traversables: works the
    same from a wheel, a zip import or an editable install."""
    return [f for f in resources.files("postfix_diag.grammars").iterdir() if f.name.endswith(".grammar")]


class Grammar:
    """All compiled matchers. `body(program, severity)` is what the parser calls per line."""

    def __init__(self, files: list[GrammarFile]):
        tokens = {}
        for gf in files:
            for name, tok in gf.tokens.items():
                if name in tokens:
                    raise GrammarError(f"{gf.name}:{tok.line}: token {name!r} is defined twice")
                tokens[name] = tok
        self.files = files
        self.compiler = PatternCompiler(tokens)
        rules = [r for gf in files for r in gf.rules]
        for r in rules:
            if not r.programs:
                raise GrammarError(f"{r.file}:{r.line}: rule {r.kind!r} comes before any @programs line")
        self.envelope: Matcher = build_matcher([r for r in rules if ENVELOPE in r.programs], self.compiler)
        self.programs = sorted({p for r in rules for p in r.programs if p not in (ENVELOPE, ANY)})
        self._rules = [r for r in rules if ENVELOPE not in r.programs]
        self._cache: dict = {}
        self.kinds = sorted({r.kind for r in self._rules})

    @cached_property
    def fields_by_kind(self) -> dict[str, list[str]]:
        """Field names of each event kind, in the order its rules first capture them."""
        out: dict[str, list[str]] = {}
        for r in self._rules:
            names = out.setdefault(r.kind, [])
            names += [f for f in _fields_of(self, r) if f not in names]
        return out

    def body(self, program: str, severity: str) -> Matcher:
        key = (program, severity)
        m = self._cache.get(key)
        if m is None:
            own = [r for r in self._rules if program in r.programs and r.severity == severity]
            if not own and program != "<any>":
                # a program without rules of its own (any syslog_name): share one matcher, so
                # that a log full of odd tags neither compiles nor keeps one per tag
                return self.body("<any>", severity)
            shared = [r for r in self._rules if ANY in r.programs and r.severity == severity]
            m = self._cache[key] = build_matcher(own + shared, self.compiler)
        return m

    def compile_all(self) -> None:
        """Compile every matcher now (used by tests and `grammar check`)."""
        for program in [*self.programs, "<any>"]:
            for sev in SEVERITIES:
                self.body(program, sev)


def load_files(directory: Path | None = None) -> list[GrammarFile]:
    """Read the grammar files of ``directory`` (default: the package's own)."""
    if directory:
        directory = Path(directory)
        try:
            files = sorted(directory.glob("*.grammar"))
        except OSError as exc:
            raise GrammarError(f"{directory}: cannot read: {exc.strerror}") from None
        where = str(directory)
    else:
        files = grammar_files()
        where = "the postfix_diag.grammars package"
    if not files:
        raise GrammarError(f"no *.grammar files in {where}")
    # common.grammar first so its tokens read naturally; order of rules is file order otherwise
    files.sort(key=lambda p: (p.name != "common.grammar", p.name != "envelope.grammar", p.name))
    out = []
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise GrammarError(f"{f.name}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
        out.append(read_grammar(text, f.name))
    return out


@lru_cache(maxsize=4)
def load(directory: str | None = None) -> Grammar:
    return Grammar(load_files(Path(directory) if directory else None))


def _fields_of(grammar: Grammar, rule) -> list[str]:
    """Names of the fields a rule captures, in order."""
    _, fields, _ = grammar.compiler.compile(rule.pattern, rule.kind)
    names = []
    for _, (name, _conv) in fields:
        if name not in names:
            names.append(name)
    return names


def describe(grammar: Grammar | None = None) -> str:
    """Markdown reference of every event kind: programs, severities, fields, defining rules.
    docs/events.md is this text; a test keeps it current."""
    grammar = grammar or load()
    by_kind: dict = {}
    for gf in grammar.files:
        for r in gf.rules:
            if ENVELOPE in r.programs:
                continue
            entry = by_kind.setdefault(r.kind, {"programs": [], "severities": [], "where": []})
            for p in r.programs:
                if p not in entry["programs"]:
                    entry["programs"].append(p)
            if r.severity not in entry["severities"]:
                entry["severities"].append(r.severity)
            entry["where"].append(f"{r.file}:{r.line}")
    lines = [
        "# Event kinds",
        "",
        "Generated from `postfix_diag/grammars/*.grammar` by `postfix-diag grammar --markdown`; do not edit.",
        "Every event also has: `kind`, `ts`, `host`, `instance`, `service`, `program`, `pid`,",
        "`severity`, `qid`, `text`, `file`, `lineno` (see `postfix_diag/events.py`).",
        "A rule's `qid` field becomes the event's `qid`. Access decisions (`reject` rules) become kind",
        "`reject`, `reject_warning`, `hold`, `discard`, `redirect` or `access`, from their `action`.",
        "Parser-made kinds: `unrecognized` (field `reason`), `foreign` (another program's line), and",
        "`warning`/`error`/`fatal`/`panic` for lines with that prefix that no rule claims.",
        "",
        "| kind | programs | severities | fields | defined at |",
        "|---|---|---|---|---|",
    ]
    for kind in sorted(by_kind):
        e = by_kind[kind]
        fields = ", ".join(f"`{f}`" for f in grammar.fields_by_kind[kind] if f != "qid") or "-"
        lines.append(f"| `{kind}` | {' '.join(e['programs'])} | {' '.join(e['severities'])} | {fields} | "
                     f"{', '.join(e['where'])} |")
    envelope = [r for gf in grammar.files for r in gf.rules if ENVELOPE in r.programs]
    lines += ["", "## Envelope formats", "", "| format | defined at |", "|---|---|"]
    lines += [f"| `{r.kind}` | {r.file}:{r.line} |" for r in envelope]
    return "\n".join(lines) + "\n"
