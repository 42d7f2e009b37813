"""Grammar files → compiled matchers.

`load()` reads every ``*.grammar`` file shipped in the package (or a given directory), checks
them, and returns a `Grammar`: one matcher per (program, severity), and one per envelope format.
The result is cached: in the process (reading and compiling happens once), and for the shipped
grammar on disk too (`grammar/cache.py`: a run that finds it there reads no grammar file and
imports no pyparsing). Matchers compile their regex on first use.
"""

from __future__ import annotations

import json
import re
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path

from . import sre_code
from .compiler import CONVERTERS, FLAGS, Matcher, PatternCompiler, RuleInfo, build_matcher, build_source
from .language import SEVERITIES, GrammarError, GrammarFile, read_grammar

__all__ = ["Grammar", "GrammarError", "load", "grammar_files", "read_grammar"]

ENVELOPE = "envelope"
ANY = "*"
ANY_PROGRAM = "<any>"  # body() of a program without rules of its own at that severity
# what a regex of tables from a cache may raise when it is not what the tables say
_BAD_TABLE = (re.error, GrammarError, ValueError, TypeError, KeyError, OverflowError, RecursionError)


def grammar_files():
    """The grammar files shipped in the package, as importlib.resources Traversables: works the
    same from a wheel, a zip import or an editable install."""
    return [f for f in resources.files("postfix_diag.grammars").iterdir() if f.name.endswith(".grammar")]


class Grammar:
    """All compiled matchers. `body(program, severity)` is what the parser calls per line.

    Built from grammar files (`Grammar(files)`, which checks every rule) or from the plain-data
    `tables()` a built grammar exports (`Grammar.from_tables`, what the disk cache holds). Both
    make their matchers from the same tables, so they match alike; `files` and `compiler` (the
    source, for `describe` and the `grammar` command) are read on first use when built from tables.
    """

    def __init__(self, files: list[GrammarFile]):
        self.__dict__["files"] = files
        self.__dict__["compiler"] = compiler = PatternCompiler(_tokens(files))
        rules = [r for gf in files for r in gf.rules]
        for r in rules:
            if not r.programs:
                raise GrammarError(f"{r.file}:{r.line}: rule {r.kind!r} comes before any @programs line")
        body_rules = self.__dict__["_rules"] = [r for r in rules if ENVELOPE not in r.programs]
        programs = sorted({p for r in rules for p in r.programs if p not in (ENVELOPE, ANY)})
        sources: list = []  # (source, by_group), identical ones once (smtp and lmtp share theirs)
        index: dict = {}

        def add(rule_list) -> int:
            source, by_group = build_source(rule_list, compiler)
            key = (source, tuple(sorted(by_group.items())))
            if key not in index:
                index[key] = len(sources)
                sources.append((source, by_group))
            return index[key]

        bodies = {}
        for program in [*programs, ANY_PROGRAM]:
            for sev in SEVERITIES:
                own = [r for r in body_rules if program in r.programs and r.severity == sev]
                if own or program == ANY_PROGRAM:
                    shared = [r for r in body_rules if ANY in r.programs and r.severity == sev]
                    bodies[(program, sev)] = add(own + shared)
        envelope = [add([r]) for r in rules if ENVELOPE in r.programs]
        self._alone = {f"{r.file}:{r.line}": r for r in body_rules}  # rule_alone() builds them on demand
        fields: dict[str, list[str]] = {}
        for r in body_rules:
            names = fields.setdefault(r.kind, [])
            names += [f for f in _fields_of(compiler, r) if f not in names]
        self._setup(programs, sorted({r.kind for r in body_rules}), fields, sources, bodies, envelope)

    def _setup(self, programs, kinds, fields_by_kind, sources, bodies, envelope, codes=None) -> None:
        self.programs = programs
        self.kinds = kinds
        self.fields_by_kind = fields_by_kind  # field names of each kind, in the order its rules capture them
        self._sources = sources
        self._bodies = bodies  # (program, severity) -> index in _sources
        self._any = {sev: bodies[(ANY_PROGRAM, sev)] for sev in SEVERITIES}
        self._envelope = envelope
        self._matchers: list = [None] * len(sources)
        self._codes = codes  # sre_code.code_of of each source, when the tables came with them

    def _entry(self, i: int) -> tuple[str, dict]:
        entry = self._sources[i]
        if type(entry) is str:  # as read from a cache file
            entry = self._sources[i] = _matcher_entry(json.loads(entry))
        return entry

    def _matcher(self, i: int) -> Matcher:
        m = self._matchers[i]
        if m is None:
            source, by_group = self._entry(i)
            regex = sre_code.pattern_of(source, self._codes[i]) if self._codes and self._codes[i] else None
            m = self._matchers[i] = Matcher(source, by_group, regex)
        return m

    def body(self, program: str, severity: str) -> Matcher:
        # a program without rules of its own (any syslog_name) shares the <any> matcher, so
        # that a log full of odd tags neither compiles nor keeps one per tag
        i = self._bodies.get((program, severity))
        try:
            return self._matcher(self._any[severity] if i is None else i)
        except _BAD_TABLE:
            if self._rebuild():
                return self.body(program, severity)
            raise

    @property
    def envelope_matchers(self) -> list[Matcher]:
        """A matcher for each envelope format alone (its one rule's kind names the format), in
        file order."""
        try:
            return [self._matcher(i) for i in self._envelope]
        except _BAD_TABLE:
            if self._rebuild():
                return self.envelope_matchers
            raise

    def _rebuild(self) -> bool:
        """Tables from a cache whose regex does not compile as they say: build them again from the
        files (True), once; a grammar built from files has nothing to fall back on (False)."""
        on_bad_table = self.__dict__.pop("_on_bad_table", None)
        if on_bad_table is None:
            return False
        on_bad_table()
        fresh = Grammar(self.files)
        self.__dict__["compiler"] = fresh.compiler
        # the matchers already handed out stay alive: a parser keys its tables by id(matcher),
        # which must not be reused by a new matcher while the grammar lives
        self._handed_out = [m for m in self._matchers if m is not None]
        self._setup(fresh.programs, fresh.kinds, fresh.fields_by_kind, fresh._sources, fresh._bodies,
                    fresh._envelope)
        self._alone = fresh._alone
        return True

    def rule_alone(self, where: str) -> tuple[str, RuleInfo] | None:
        """(regex source, RuleInfo) of the body rule defined at ``where`` ("file:line", a RuleInfo's
        ``source``) in a matcher of its own (the `Matcher` layout, one rule), None if there is
        none: the compiled parse core (core.py) runs one rule alone to read its captures."""
        if where not in self._alone:
            return None
        try:
            source, by_group = self._alone_built(where)
        except _BAD_TABLE:
            if self._rebuild():
                return self.rule_alone(where)
            raise
        (info,) = by_group.values()
        return source, info

    def _alone_built(self, where: str) -> tuple[str, dict]:
        entry = self._alone[where]
        if type(entry) is str:  # as read from a cache file
            entry = _matcher_entry(json.loads(entry))
            if len(entry[1]) != 1:
                raise ValueError("a rule alone is one rule")
        elif type(entry) is not tuple:  # the rule as read from its file
            entry = build_source([entry], self.compiler)
        self._alone[where] = entry
        return entry

    @cached_property
    def envelope(self) -> Matcher:
        """All envelope formats in one matcher (for tests and listings; the parser uses
        `envelope_matchers`)."""
        return build_matcher([r for gf in self.files for r in gf.rules if ENVELOPE in r.programs], self.compiler)

    def compile_all(self) -> None:
        """Compile every matcher now (used by tests and `grammar check`)."""
        for i in range(len(self._sources)):
            self._matcher(i)

    # -- the plain-data form, for the disk cache -------------------------------------------------
    def tables(self, with_code: bool = False) -> dict:
        """Everything `from_tables` needs, as JSON-able lists, dicts, strings and numbers.
        ``with_code``: with each regex compiled (`sre_code`), for this interpreter only."""
        names = {conv: name for name, conv in CONVERTERS.items()}
        out = {
            "programs": list(self.programs),
            "kinds": list(self.kinds),
            "fields_by_kind": {k: list(v) for k, v in self.fields_by_kind.items()},
            # each matcher as a JSON text of its own: a run decodes only those of the programs it meets
            "matchers": [json.dumps([source, [[g, r.kind, r.severity, [[n, names[c]] for n, c in r.fields],
                                               list(r.group_indexes), r.source] for g, r in sorted(by_group.items())]],
                                    separators=(",", ":"))
                         for source, by_group in map(self._entry, range(len(self._sources)))],
            "bodies": [[program, sev, i] for (program, sev), i in self._bodies.items()],
            "envelope": list(self._envelope),
            # each body rule alone, by "file:line" (rule_alone), a JSON text each as the matchers
            "alone": {where: json.dumps([source, [[g, r.kind, r.severity, [[n, names[c]] for n, c in r.fields],
                                                   list(r.group_indexes), r.source] for g, r in by_group.items()]],
                                        separators=(",", ":"))
                      for where in self._alone for source, by_group in [self._alone_built(where)]},
        }
        if with_code:
            out["code"] = {"engine": sre_code.ENGINE,
                           "matchers": [sre_code.code_of(source, FLAGS) if source else None
                                        for source, _ in self._sources]}
        return out

    @classmethod
    def from_tables(cls, tables: dict, files_loader=None, on_bad_table=None) -> Grammar:
        """A grammar from `tables()` output; ValueError (or TypeError, KeyError) if they are not
        well formed. ``files_loader()`` gives the source files on demand (`files`, `compiler`),
        and the grammar is rebuilt from them, after a call of ``on_bad_table()``, if a regex of
        the tables does not compile as they say."""
        g = cls.__new__(cls)
        g._files_loader = files_loader or load_files
        g._on_bad_table = on_bad_table or (lambda: None)
        # each matcher's entry stays as read until the matcher is first used (_matcher_entry checks it)
        sources = tables["matchers"]
        if type(sources) is not list or not all(type(m) is str for m in sources):
            raise ValueError("bad matcher table")
        bodies = {(_str(p), _str(s)): _index(i, sources) for p, s, i in tables["bodies"]}
        if any(sev not in SEVERITIES for _, sev in bodies) or any((ANY_PROGRAM, s) not in bodies for s in SEVERITIES):
            raise ValueError("bad body table")
        fields = {_str(k): [_str(n) for n in v] for k, v in tables["fields_by_kind"].items()}
        envelope = [_index(i, sources) for i in tables["envelope"]]
        if not envelope:
            raise ValueError("no envelope format")
        codes = None
        code = tables.get("code")
        if isinstance(code, dict) and code.get("engine") == sre_code.ENGINE:
            codes = code.get("matchers")
            if not isinstance(codes, list) or len(codes) != len(sources):
                raise ValueError("bad code table")
        alone = tables["alone"]
        if type(alone) is not dict or not all(type(k) is str and type(v) is str for k, v in alone.items()):
            raise ValueError("bad table of rules alone")
        g._setup([_str(p) for p in tables["programs"]], [_str(k) for k in tables["kinds"]], fields, list(sources),
                 bodies, envelope, codes)
        g._alone = dict(alone)
        return g

    @cached_property
    def files(self) -> list[GrammarFile]:
        return self._files_loader()

    @cached_property
    def compiler(self) -> PatternCompiler:
        return PatternCompiler(_tokens(self.files))

    @cached_property
    def _rules(self) -> list:
        """The body rules (all but the envelope's), in file order, as read (lenient.py builds a
        matcher of its own from them for header-less lines)."""
        return [r for gf in self.files for r in gf.rules if ENVELOPE not in r.programs]


def _tokens(files: list[GrammarFile]) -> dict:
    """The tokens of all files, one namespace."""
    tokens = {}
    for gf in files:
        for name, tok in gf.tokens.items():
            if name in tokens:
                raise GrammarError(f"{gf.name}:{tok.line}: token {name!r} is defined twice")
            tokens[name] = tok
    return tokens


def _matcher_entry(entry: list) -> tuple[str, dict]:
    """(source, by_group) of a matcher entry of `Grammar.tables()`, decoded; ValueError if it is
    not one."""
    source, rules = entry
    by_group = {}
    for rule in rules:
        group, kind, severity, fields, indexes, where = rule
        if (type(group) is not int or group in by_group or type(kind) is not str or type(severity) is not str
                or type(where) is not str or len(fields) != len(indexes)):
            raise ValueError("bad rule entry")
        for i in indexes:
            if type(i) is not int or not 0 < i < group:
                raise ValueError("bad group number")
        by_group[group] = RuleInfo(kind, severity, tuple((_str(n), CONVERTERS[c]) for n, c in fields),
                                   tuple(indexes), where)
    if type(source) is not str or bool(source) != bool(by_group):
        raise ValueError("bad matcher entry")
    return source, by_group


def _str(value) -> str:
    if not isinstance(value, str):
        raise ValueError(f"not a string: {value!r}")
    return value


def _int(value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"not a group number: {value!r}")
    return value


def _index(value, items: list) -> int:
    if _int(value) >= len(items):
        raise ValueError(f"no matcher {value}")
    return value


def load_files(directory: Path | None = None) -> list[GrammarFile]:
    """Read the grammar files of ``directory`` (default: the package's own)."""
    if not directory:
        return read_files(shipped_sources())
    directory = Path(directory)
    try:
        files = sorted(directory.glob("*.grammar"))
    except OSError as exc:
        raise GrammarError(f"{directory}: cannot read: {exc.strerror}") from None
    return read_files(_read_all(files, str(directory)))


def shipped_sources() -> list[tuple[str, bytes]]:
    """(name, bytes) of the grammar files shipped in the package."""
    return _read_all(grammar_files(), "the postfix_diag.grammars package")


def _read_all(files, where: str) -> list[tuple[str, bytes]]:
    if not files:
        raise GrammarError(f"no *.grammar files in {where}")
    sources = []
    for f in files:
        try:
            sources.append((f.name, f.read_bytes()))
        except OSError as exc:
            raise GrammarError(f"{f.name}: cannot read: {exc.strerror or exc}") from None
    return sources


def read_files(sources: list[tuple[str, bytes]]) -> list[GrammarFile]:
    """Read grammar files given as (name, bytes)."""
    # common.grammar first so its tokens read naturally; order of rules is file order otherwise
    sources = sorted(sources, key=lambda s: (s[0] != "common.grammar", s[0] != "envelope.grammar", s[0]))
    out = []
    for name, data in sources:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise GrammarError(f"{name}: cannot read: {exc}") from None
        out.append(read_grammar(text, name))
    return out


@lru_cache(maxsize=4)
def load(directory: str | None = None) -> Grammar:
    """The grammar of ``directory``'s files, or the package's own (through the disk cache)."""
    if directory:
        return Grammar(load_files(Path(directory)))
    return load_shipped()


def load_shipped() -> Grammar:
    """The package's own grammar: from the disk cache (grammar/cache.py, plain data) when a good
    file is there, else from the files (then written to the cache)."""
    from . import cache

    sources = shipped_sources()
    key = cache.key_of(sources)
    directory = cache.cache_dir()
    path = directory / f"grammar-{key}.json" if directory else None
    if path is not None:
        tables = cache.read(path, key)
        if tables is not None:
            try:
                return Grammar.from_tables(tables, files_loader=lambda: read_files(sources),
                                           on_bad_table=lambda: cache.discard(path))
            except (ValueError, TypeError, KeyError, IndexError, AttributeError):
                pass  # well formed JSON, but not our tables: rebuilt below, file replaced
    grammar = Grammar(read_files(sources))
    if path is not None:
        cache.write(path, key, grammar.tables(with_code=True))
    return grammar


def _fields_of(compiler: PatternCompiler, rule) -> list[str]:
    """Names of the fields a rule captures, in order."""
    _, fields, _ = compiler.compile(rule.pattern, rule.kind)
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
