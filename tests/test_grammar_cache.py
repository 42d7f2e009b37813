"""The compiled-grammar cache (postfix_diag/grammar/cache.py): a hit gives the grammar the files
give, and a cache that is stale, corrupt, truncated, unwritable, another user's, or a symlink is
never believed and never makes a run fail."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import postfix_diag.grammar as grammar_pkg
from postfix_diag.grammar import Grammar, cache, grammar_files, load_files, load_shipped, sre_code
from postfix_diag.grammar.compiler import FLAGS
from postfix_diag.parse import Parser

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted(ROOT.glob("sample_logs/*/maillog"))
LINES = [line for p in SAMPLES for line in p.read_text(encoding="utf-8", errors="replace").splitlines()]
OTHER_UID = 65534  # nobody


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    monkeypatch.delenv("POSTFIX_DIAG_NO_CACHE", raising=False)
    return home / "postfix-diag"


@pytest.fixture(scope="module")
def good_file(tmp_path_factory) -> tuple[str, bytes]:
    """(name, contents) of the cache file a miss writes: built once for this module's tests."""
    directory = tmp_path_factory.mktemp("xdg") / "postfix-diag"
    key = cache.key_of([(f.name, f.read_bytes()) for f in grammar_files()])
    assert cache.write(directory / f"grammar-{key}.json", key, Grammar(load_files()).tables(with_code=True))
    path = _cache_file(directory)
    return path.name, path.read_bytes()


@pytest.fixture
def primed(cache_home, good_file) -> Path:
    """A good cache file in place, as after a first run."""
    cache_home.mkdir(mode=0o700, parents=True)
    path = cache_home / good_file[0]
    path.write_bytes(good_file[1])
    path.chmod(0o600)
    return path


def _events(grammar) -> list:
    parser = Parser(year=2024, grammar=grammar)
    return [tuple(getattr(ev, a) for a in ev.__slots__) for ev in
            (parser.parse_line(line, "x", i) for i, line in enumerate(LINES))]


def _cache_file(directory: Path) -> Path:
    files = sorted(directory.glob("grammar-*.json"))
    assert len(files) == 1, files
    return files[0]


def _source_built(monkeypatch) -> list:
    """Record every build of the grammar from its files during the test."""
    builds = []
    real = grammar_pkg.read_files

    def spy(sources):
        builds.append(len(sources))
        return real(sources)

    monkeypatch.setattr(grammar_pkg, "read_files", spy)
    return builds


@pytest.fixture(scope="module")
def from_files():
    return Grammar(load_files())


def test_tables_round_trip_parse_alike(from_files):
    """The tables a cache holds give the same events, line for line, as the files: with the
    regexes compiled from source, and from their saved engine code."""
    tables = json.loads(json.dumps(from_files.tables(with_code=True)))
    cached = Grammar.from_tables(tables)
    assert cached.tables() == from_files.tables()
    assert cached._codes and all(c is not None for c, (src, _) in zip(cached._codes, cached._sources, strict=True) if src)
    expected = _events(from_files)
    assert _events(cached) == expected
    assert _events(Grammar.from_tables(from_files.tables())) == expected  # no code: compiled from source
    assert cached.programs == from_files.programs and cached.fields_by_kind == from_files.fields_by_kind


def test_saved_code_is_what_re_compiles(from_files):
    for source, _ in from_files._sources:
        if source:
            pattern = sre_code.pattern_of(source, sre_code.code_of(source, FLAGS))
            compiled = re.compile(source, FLAGS)
            assert pattern is not None and pattern is not compiled
            assert (pattern.pattern, pattern.flags, pattern.groups) == (source, compiled.flags, compiled.groups)


def test_hit_reads_no_grammar_file_and_no_pyparsing(cache_home, monkeypatch):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    code = ("import sys; from postfix_diag.grammar import load; g = load(); g.compile_all(); "
            "print('pyparsing' in sys.modules, len(g.kinds))")
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert first.stdout.split()[0] == "True"  # a miss reads the files
    assert second.stdout.split() == ["False", first.stdout.split()[1]]  # a hit does not even import pyparsing
    assert _cache_file(cache_home).stat().st_mode & 0o777 == 0o600
    assert cache_home.stat().st_mode & 0o777 == 0o700
    builds = _source_built(monkeypatch)
    load_shipped()
    assert builds == []


def test_stale_when_a_grammar_file_changes(primed, cache_home, monkeypatch, tmp_path):
    old = primed
    edited = tmp_path / "grammars"
    edited.mkdir()
    for f in grammar_files():
        (edited / f.name).write_bytes(f.read_bytes())
    qmgr_removed = "Jan  1 00:00:00 mx postfix/qmgr[1]: 1A2B3C4D5E: removed"
    assert Parser(year=2024, grammar=load_shipped()).parse_line(qmgr_removed).kind == "removed"
    text = (edited / "queue.grammar").read_text(encoding="utf-8")
    assert "removed:" in text
    (edited / "queue.grammar").write_text(text.replace("removed:", "gone_for_good:", 1), encoding="utf-8")
    monkeypatch.setattr(grammar_pkg, "shipped_sources", lambda: [(f.name, f.read_bytes()) for f in sorted(edited.iterdir())])
    builds = _source_built(monkeypatch)
    g = load_shipped()
    assert builds, "an edited grammar file must not be served from the old cache file"
    assert Parser(year=2024, grammar=g).parse_line(qmgr_removed).kind == "gone_for_good"
    assert old.exists() and len(list(cache_home.glob("grammar-*.json"))) == 2  # one per key


def _signed(obj) -> bytes:
    """A cache file with a good checksum around ``obj``."""
    payload = json.dumps(obj).encode()
    return cache.FORMAT + b" " + cache.hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def _damaged(data: bytes, damage: str) -> bytes:
    header, payload = data.split(b"\n", 1)
    obj = json.loads(payload)
    tables = obj["tables"]
    if damage == "flip":
        i = len(data) // 2
        return data[:i] + bytes([data[i] ^ 0x20]) + data[i + 1:]
    if damage == "truncate":
        return data[: len(data) // 2]
    if damage == "empty":
        return b""
    if damage == "header":
        return b"postfix-diag grammar cache 0 " + header.split()[-1] + b"\n" + payload
    if damage == "not-json":
        return cache.FORMAT + b" " + cache.hashlib.sha256(b"{nope").hexdigest().encode() + b"\n{nope"
    if damage == "other-key":  # a stale file under the current file name
        obj["key"] = "0" * 64
    elif damage == "json-not-tables":
        obj["tables"] = [1, 2]
    elif damage == "bad-tables":
        tables["bodies"] = [[1, 2, 3]]
    elif damage == "bad-regex":  # well formed, but a regex that is not what its table says
        i = next(i for program, sev, i in tables["bodies"] if (program, sev) == ("smtpd", "info"))
        entry = json.loads(tables["matchers"][i])
        entry[0] = entry[0].replace("()", "", 1)
        tables["matchers"][i] = json.dumps(entry)
        del tables["code"]
    elif damage == "bad-rule":  # a rule entry of a matcher in use that is not one (checked on first use)
        i = next(i for program, sev, i in tables["bodies"] if (program, sev) == ("smtpd", "info"))
        entry = json.loads(tables["matchers"][i])
        entry[1][0][1] = 5
        tables["matchers"][i] = json.dumps(entry)
    elif damage == "bad-json-entry":  # a matcher's own JSON text, broken
        i = next(i for program, sev, i in tables["bodies"] if (program, sev) == ("smtpd", "info"))
        tables["matchers"][i] = tables["matchers"][i][:-5]
    elif damage == "bad-code":  # engine code that is not a code list
        tables["code"]["matchers"] = ["AAAA" if c else c for c in tables["code"]["matchers"]]
    elif damage == "other-engine":  # code of another interpreter
        tables["code"]["engine"] = "cpython 2.7"
    return _signed(obj)


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "header", "not-json", "other-key",
                                    "json-not-tables"])
def test_damaged_or_stale_file_is_not_read(primed, damage):
    key = primed.stem.split("-", 1)[1]
    assert cache.read(primed, key) is not None
    primed.write_bytes(_damaged(primed.read_bytes(), damage))
    assert cache.read(primed, key) is None


@pytest.mark.parametrize("damage", ["truncate", "bad-tables", "bad-regex", "bad-rule", "bad-json-entry"])
def test_damaged_cache_is_rebuilt_and_replaced(primed, monkeypatch, damage, from_files):
    """Rejected when read (truncate), when its tables are rebuilt (bad-tables), or when a
    matcher is first used (bad-regex, bad-rule, bad-json-entry: in the middle of a run): the grammar then comes from the files,
    parses alike, and the next run finds a good file."""
    key = primed.stem.split("-", 1)[1]
    primed.write_bytes(_damaged(primed.read_bytes(), damage))
    builds = _source_built(monkeypatch)
    g = load_shipped()
    assert _events(g) == _events(from_files)
    assert builds
    if damage in ("bad-regex", "bad-rule", "bad-json-entry"):  # found late: the file is dropped, the next miss writes it
        assert not primed.exists()
        load_shipped()
    assert cache.read(primed, key) is not None


@pytest.mark.parametrize("damage", ["bad-code", "other-engine"])
def test_unusable_engine_code_falls_back_to_the_sources(primed, damage, from_files):
    tables = json.loads(_damaged(primed.read_bytes(), damage).split(b"\n", 1)[1])["tables"]
    g = Grammar.from_tables(tables)
    assert _events(g) == _events(from_files)


def test_unwritable_cache_directory(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # mkdir under a file fails, even as root
    g = load_shipped()
    assert g.kinds and blocker.read_text() == "not a directory"
    if os.geteuid() != 0:  # a read-only directory (root writes anyway)
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        monkeypatch.setenv("XDG_CACHE_HOME", str(ro))
        assert load_shipped().kinds and not list(ro.iterdir())
    monkeypatch.setattr(cache.os, "replace", _raise_oserror)  # a full disk at the last step
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "full"))
    assert load_shipped().kinds
    assert not list((tmp_path / "full" / "postfix-diag").iterdir())  # no temporary file left behind


def _raise_oserror(*_args, **_kw):
    raise OSError(28, "No space left on device")


def _as_other_user(path: Path, monkeypatch) -> None:
    """Make ``path`` another user's: for real as root, else by making this process someone else."""
    if os.geteuid() == 0:
        os.chown(path, OTHER_UID, OTHER_UID)
    else:
        real = os.geteuid()
        monkeypatch.setattr(cache.os, "geteuid", lambda: real + 1)


def test_cache_file_of_another_user_is_not_read(primed, cache_home, monkeypatch):
    path = primed
    _as_other_user(path, monkeypatch)
    key = path.stem.split("-", 1)[1]
    assert cache.read(path, key) is None
    builds = _source_built(monkeypatch)
    assert load_shipped().kinds and builds


def test_cache_directory_of_another_user_is_not_used(primed, cache_home, monkeypatch):
    path = primed
    _as_other_user(cache_home, monkeypatch)
    builds = _source_built(monkeypatch)
    before = path.read_bytes()
    assert load_shipped().kinds and builds
    assert path.read_bytes() == before  # nothing written into someone else's directory


@pytest.mark.parametrize("what", ["file", "directory"])
def test_writable_by_others_is_not_read(primed, cache_home, monkeypatch, what):
    path = primed
    (path if what == "file" else cache_home).chmod(0o666 if what == "file" else 0o777)
    assert cache.read(path, path.stem.split("-", 1)[1]) is None


def test_symlinked_cache_file_is_not_followed(primed, cache_home, monkeypatch, tmp_path):
    path = primed
    elsewhere = tmp_path / "elsewhere.json"
    path.rename(elsewhere)
    path.symlink_to(elsewhere)
    assert cache.read(path, path.stem.split("-", 1)[1]) is None
    assert load_shipped().kinds
    assert not path.is_symlink()  # replaced by a real file, the link's target untouched
    assert elsewhere.exists()


def test_huge_file_is_not_read(primed, cache_home, monkeypatch):
    path = primed
    monkeypatch.setattr(cache, "MAX_BYTES", 100)
    assert cache.read(path, path.stem.split("-", 1)[1]) is None


def test_cache_off(cache_home, monkeypatch):
    monkeypatch.setenv("POSTFIX_DIAG_NO_CACHE", "1")
    assert load_shipped().kinds
    assert not cache_home.exists()


def test_relative_xdg_cache_home_is_ignored(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache.cache_dir() == tmp_path / ".cache" / "postfix-diag"


def test_old_cache_files_are_pruned(primed, cache_home, monkeypatch):
    keep = primed
    for i in range(cache.KEEP + 3):
        p = cache_home / f"grammar-old{i}.json"
        p.write_text("x")
        os.utime(p, (1000 + i, 1000 + i))
    monkeypatch.setattr(cache, "read", lambda *_: None)  # force a rewrite
    load_shipped()
    left = sorted(p.name for p in cache_home.glob("grammar-*.json"))
    assert keep.name in left and len(left) == cache.KEEP
    assert "grammar-old0.json" not in left  # the oldest went first


def test_cli_survives_a_corrupt_cache(tmp_path):
    """The installed command with a corrupt cache: same output as with none, exit 0."""
    log = ROOT / "sample_logs/healthy/maillog"
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    run = [sys.executable, "-m", "postfix_diag", "analyze", "--format", "json", "--year", "2024", str(log)]
    clean = subprocess.run(run, env=env, capture_output=True, check=True).stdout
    for f in (tmp_path / "postfix-diag").glob("grammar-*.json"):
        f.write_bytes(f.read_bytes()[:1000] + b"\x00garbage")
    damaged = subprocess.run(run, env=env, capture_output=True)
    assert damaged.returncode == 0 and damaged.stderr == b""
    assert damaged.stdout == clean


@pytest.mark.parametrize("pure", [True, False])
def test_rebuild_mid_run_keeps_the_matchers_a_parser_holds(primed, from_files, pure):
    """A parser (and the compiled core) keys its tables by id(matcher): after a rebuild in the
    middle of a run, every id it holds must still be a live matcher of the grammar (a freed one's
    id could be reused by a new matcher, which would give a line another program's table)."""
    import gc

    primed.write_bytes(_damaged(primed.read_bytes(), "bad-regex"))  # smtpd's regex is the bad one
    g = load_shipped()
    parser = Parser(year=2024, grammar=g, pure=pure)

    def held() -> set:
        return set(parser._tables) | set(getattr(parser, "_core_bodies", {}))

    qmgr = "Jan  1 00:00:00 mx postfix/qmgr[1]: 1A2B3C4D5E: removed"
    assert parser.parse_line(qmgr).kind == "removed"  # compiled from the cache, before the rebuild
    first = held()
    parser.parse_line("Jan  1 00:00:00 mx postfix/smtpd[2]: connect from a[192.0.2.1]")  # the rebuild
    gc.collect()
    live = {id(m) for m in [*g._matchers, *getattr(g, "_handed_out", [])] if m is not None}
    assert first and first <= live and held() <= live
    reference = Parser(year=2024, grammar=from_files, pure=True)
    for i, line in enumerate(LINES):
        a, b = parser.parse_line(line, "x", i), reference.parse_line(line, "x", i)
        assert tuple(getattr(a, s) for s in a.__slots__) == tuple(getattr(b, s) for s in b.__slots__)


def test_unreadable_shipped_grammar_file_is_a_grammar_error(monkeypatch, cache_home):
    """As without a cache: a package file that cannot be read is one GrammarError line."""
    class Unreadable:
        name = "smtpd.grammar"

        def read_bytes(self):
            raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(grammar_pkg, "grammar_files", lambda: [Unreadable()])
    with pytest.raises(grammar_pkg.GrammarError, match=r"^smtpd\.grammar: cannot read: Permission denied$"):
        load_shipped()
