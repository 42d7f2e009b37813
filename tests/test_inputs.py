"""Inputs (files, globs, directories, stdin, compression, rotation) and bad input.

Bad input must end as a one-line `InputError` or as counted `unrecognized` events, never as a
traceback.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import sys

import pytest

import postfix_diag.inputs as inputs
from postfix_diag.inputs import InputError, Source, read_lines, resolve
from postfix_diag.parse import MAX_LINE, Parser, iter_events


def line(qid: str, day: int = 1) -> str:
    return f"Jan {day:2d} 00:00:00 mx postfix/qmgr[1]: {qid}: removed"


def write(path, text: str, opener=open) -> str:
    with opener(path, "wb") as fh:
        fh.write(text.encode())
    return str(path)


def one_line_error(exc: InputError) -> str:
    msg = str(exc)
    assert msg and "\n" not in msg and "Traceback" not in msg
    return msg


# --- files, globs, directories, stdin --------------------------------------------------------------------
def test_plain_file(tmp_path):
    p = write(tmp_path / "mail.log", line("1A2B3C4D5E") + "\r\n" + line("1A2B3C4D5F") + "\n")
    sources = resolve([p])
    assert sources == [Source(p, p)]
    assert list(read_lines(sources[0])) == [line("1A2B3C4D5E"), line("1A2B3C4D5F")]
    evs = list(iter_events([p], year=2024))
    assert [(e.kind, e.qid, e.lineno, e.file) for e in evs] == [("removed", "1A2B3C4D5E", 1, p),
                                                                ("removed", "1A2B3C4D5F", 2, p)]


def test_no_trailing_newline(tmp_path):
    p = write(tmp_path / "mail.log", line("1A2B3C4D5E"))
    assert list(read_lines(resolve([p])[0])) == [line("1A2B3C4D5E")]


def test_glob(tmp_path):
    write(tmp_path / "a.log", line("AAAAAAAAAA") + "\n")
    write(tmp_path / "b.log", line("BBBBBBBBBB") + "\n")
    write(tmp_path / "c.txt", line("CCCCCCCCCC") + "\n")
    qids = [e.qid for e in iter_events([str(tmp_path / "*.log")], year=2024)]
    assert qids == ["AAAAAAAAAA", "BBBBBBBBBB"]


def test_glob_with_a_directory_in_it(tmp_path):
    (tmp_path / "dir.log").mkdir()
    write(tmp_path / "mail.log", line("AAAAAAAAAA") + "\n")
    assert [s.path for s in resolve([str(tmp_path / "*.log")])] == [str(tmp_path / "mail.log")]
    # a pattern that only matches directories is an error, not silence
    with pytest.raises(InputError) as e:
        resolve([str(tmp_path / "dir*")])
    assert "no regular file" in one_line_error(e.value)


def test_glob_without_match(tmp_path):
    with pytest.raises(InputError) as e:
        resolve([str(tmp_path / "nothing*.log")])
    assert "no file matches" in one_line_error(e.value)


def test_directory_rotation_order(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    write(d / "mail.log.2.gz", line("2222222222") + "\n", gzip.open)
    write(d / "mail.log.1", line("1111111111") + "\n")
    write(d / "mail.log", line("0000000000") + "\n")
    write(d / "README", "not a log\n")
    write(d / "maillog-20240101", line("D1D1D1D1D1") + "\n")
    write(d / "maillog-20240108.gz", line("D2D2D2D2D2") + "\n", gzip.open)
    write(d / "maillog", line("D3D3D3D3D3") + "\n")
    names = [os.path.basename(s.path) for s in resolve([str(d)])]
    assert "README" not in names
    assert [n for n in names if n.startswith("mail.log")] == ["mail.log.2.gz", "mail.log.1", "mail.log"]
    assert [n for n in names if n.startswith("maillog")] == ["maillog-20240101", "maillog-20240108.gz", "maillog"]
    qids = [e.qid for e in iter_events([str(d / "mail.log*")], year=2024)]
    assert qids == ["2222222222", "1111111111", "0000000000"]


def test_rotation_order_with_many_numbers(tmp_path):
    for n in (1, 2, 10, 3):
        write(tmp_path / f"mail.log.{n}", "")
    names = [os.path.basename(s.path) for s in resolve([str(tmp_path / "mail.log*")])]
    assert names == ["mail.log.10", "mail.log.3", "mail.log.2", "mail.log.1"]


def test_stdin(monkeypatch):
    data = (line("1A2B3C4D5E") + "\n" + line("1A2B3C4D5F") + "\n").encode()

    class FakeStdin:
        buffer = io.BytesIO(data)

    monkeypatch.setattr(sys, "stdin", FakeStdin())
    evs = list(iter_events(["-"], year=2024))
    assert [(e.qid, e.file) for e in evs] == [("1A2B3C4D5E", "<stdin>"), ("1A2B3C4D5F", "<stdin>")]


def test_stdin_gzip(monkeypatch):
    class FakeStdin:
        buffer = io.BytesIO(gzip.compress((line("1A2B3C4D5E") + "\n").encode()))

    monkeypatch.setattr(sys, "stdin", FakeStdin())
    assert [e.qid for e in iter_events(["-"], year=2024)] == ["1A2B3C4D5E"]


def test_default_logs(tmp_path, monkeypatch):
    p = write(tmp_path / "maillog", line("1A2B3C4D5E") + "\n")
    monkeypatch.setattr(inputs, "DEFAULT_LOGS", (str(tmp_path / "absent"), p))
    assert [s.path for s in resolve([])] == [p]
    assert [e.qid for e in iter_events([], year=2024)] == ["1A2B3C4D5E"]
    monkeypatch.setattr(inputs, "DEFAULT_LOGS", (str(tmp_path / "absent"),))
    with pytest.raises(InputError) as e:
        resolve(None)
    assert "pass a path" in one_line_error(e.value)


# --- compression by magic bytes ---------------------------------------------------------------------------
@pytest.mark.parametrize("opener", [gzip.open, bz2.open, lzma.open], ids=["gzip", "bzip2", "xz"])
def test_compressed_recognized_by_content(tmp_path, opener):
    p = write(tmp_path / "mail.log.1", line("1A2B3C4D5E") + "\n" + line("1A2B3C4D5F") + "\n", opener)
    assert [e.qid for e in iter_events([p], year=2024)] == ["1A2B3C4D5E", "1A2B3C4D5F"]


def test_plain_file_with_compressed_name(tmp_path):
    p = write(tmp_path / "x.gz", line("1A2B3C4D5E") + "\n")
    assert [e.qid for e in iter_events([p], year=2024)] == ["1A2B3C4D5E"]


# --- bad input ------------------------------------------------------------------------------------------------
def _events(path):
    return list(Parser(year=2024).parse_source(resolve([str(path)])[0]))


def test_binary_junk(tmp_path):
    junk = bytes(range(256)) * 64 + b"\n\x00\x00\xff\xfe\n" + os.urandom(4096)
    p = tmp_path / "mail.log"
    p.write_bytes(junk)
    evs = _events(p)
    assert evs and all(e.kind == "unrecognized" for e in evs)


def test_nul_bytes_and_invalid_utf8(tmp_path):
    good = line("1A2B3C4D5E").encode()
    p = tmp_path / "mail.log"
    p.write_bytes(b"\x00" * 100 + good + b"\n" + good.replace(b"mx", b"m\xffx") + b"\n"
                  + b"Jan  1 00:00:00 mx postfix/smtpd[1]: connect from a\x00b[192.0.2.1]\n"
                  + b"Jan  1 00:00:00 mx postfix/smtpd[1]: warning: \xc3\x28 bad bytes\n")
    evs = _events(p)
    assert [e.kind for e in evs] == ["removed", "removed", "connect", "warning"]
    assert evs[1].host == "m\ufffdx"  # invalid UTF-8 became U+FFFD


def test_huge_single_line(tmp_path):
    p = tmp_path / "mail.log"
    with open(p, "wb") as fh:
        fh.write(b"Jan  1 00:00:00 mx postfix/smtpd[1]: connect from " + b"a" * (50 * 1024 * 1024) + b"\n")
        fh.write(line("1A2B3C4D5E").encode() + b"\n")
    evs = _events(p)
    assert [e.kind for e in evs] == ["unrecognized", "removed"]
    assert evs[0].f == {"reason": "overlong", "length": 50 * 1024 * 1024 + 50}
    assert len(evs[0].line) <= MAX_LINE and len(evs[0].text) <= 200


# Worst cases for every grammar regex: long runs of the characters the rules split on, after the
# prefixes that lead deepest into the rules, for every program. Must finish (linear-time rules).
PATHOLOGICAL = ["[", ",", "<", "a:", "]:", " ", "a ", "[a]", "=<", "; ", "from ", ": ", "(", "0", "a@b ",
                "\\", "to=<", ">,", "=", "/", "-", ".", ")"]
PREFIXES = ["", "warning: ", "fatal: ", "1A2B3C4D5E: ", "NOQUEUE: reject: RCPT from a[192.0.2.1]: 550 5.7.1 ",
            "1A2B3C4D5E: to=<a@b>, relay=", "1A2B3C4D5E: reject: header ", "connect from ",
            "PREGREET 1 after 0 from [192.0.2.1]:5: ", "Anonymous TLS connection established from a[192.0.2.1]: "]


def test_pathological_bodies(parser):
    programs = [*parser.grammar.programs, "postfix-script", "postsuper", "sendmail", "nosuchdaemon"]
    n = 0
    for program in programs:
        for prefix in PREFIXES:
            for chars in PATHOLOGICAL:
                body = prefix + chars * (30_000 // len(chars))
                ev = parser.parse_line(f"Jan  1 00:00:00 mx postfix/{program}[1]: {body}", "<p>", 1)
                assert ev.kind is not None
                n += 1
    assert n > 1000


def test_pathological_envelopes(parser):
    for chars in ["[", " ", "a ", ":", "a/", "postfix/", "Jan  1 ", "<1>", "2024-01-01T00:00:00 "]:
        ev = parser.parse_line(chars * (30_000 // len(chars)))
        assert ev.kind == "unrecognized"
        ev = parser.parse_line("Jan  1 00:00:00 mx " + chars * (30_000 // len(chars)))
        assert ev.kind in ("unrecognized", "foreign")


def test_truncated_gzip(tmp_path):
    data = gzip.compress(("\n".join(line(f"{i:010X}") for i in range(5000)) + "\n").encode())
    p = tmp_path / "mail.log.1.gz"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as e:
        _events(p)
    assert "truncated or corrupt" in one_line_error(e.value)


def test_corrupt_bzip2(tmp_path):
    p = tmp_path / "mail.log.1"
    p.write_bytes(b"BZh9" + b"\x00" * 100)
    with pytest.raises(InputError) as e:
        _events(p)
    one_line_error(e.value)


def test_missing_path(tmp_path):
    with pytest.raises(InputError) as e:
        resolve([str(tmp_path / "nope.log")])
    assert "no such file or directory" in one_line_error(e.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a chmod 000 file")
def test_unreadable_file_chmod(tmp_path):
    p = tmp_path / "mail.log"
    p.write_text(line("1A2B3C4D5E") + "\n")
    p.chmod(0)
    try:
        with pytest.raises(InputError) as e:
            _events(p)
        assert "permission denied" in one_line_error(e.value)
    finally:
        p.chmod(0o644)


def test_unreadable_file(tmp_path, monkeypatch):
    """The same as the chmod test, for runs as root: opening fails with EACCES."""
    p = tmp_path / "mail.log"
    p.write_text(line("1A2B3C4D5E") + "\n")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(inputs, "open", denied, raising=False)
    with pytest.raises(InputError) as e:
        _events(p)
    assert "permission denied" in one_line_error(e.value)


def test_not_a_regular_file(tmp_path):
    if not os.path.exists("/dev/null"):
        pytest.skip("no /dev/null")
    with pytest.raises(InputError) as e:
        resolve(["/dev/null"])
    assert "not a regular file" in one_line_error(e.value)


def test_empty_file(tmp_path):
    p = tmp_path / "mail.log"
    p.write_bytes(b"")
    assert _events(p) == []


def test_empty_gzip(tmp_path):
    p = tmp_path / "mail.log.1"
    p.write_bytes(gzip.compress(b""))
    assert _events(p) == []


def test_directory_without_logs(tmp_path):
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(InputError) as e:
        resolve([str(tmp_path)])
    assert "no mail log files" in one_line_error(e.value)


def test_many_odd_tags_share_one_matcher():
    """A log full of distinct syslog names (postfix1, postfix2, ...) must not compile a regex, nor
    keep a cache entry, per tag: programs without rules of their own share one matcher."""
    from postfix_diag.parse import MAX_TAGS, Parser

    parser = Parser(year=2026)
    def compiled() -> int:  # the grammar (and its matchers) is shared by parsers
        return sum(m is not None for m in parser.grammar._matchers)

    before = compiled()
    lines = [f"Jan  4 00:00:00 mx postfix{i}: hello {i}" for i in range(MAX_TAGS + 50)]
    events = list(parser.parse_lines(lines))
    assert all(ev.kind == "unrecognized" and ev.program.startswith("postfix") for ev in events)
    assert compiled() <= before + 1
    assert len(parser._tags) <= MAX_TAGS and len(parser._tables) < 10


# --- the bounded reader ----------------------------------------------------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

PIECES = st.sampled_from([b"\n", b"\r\n", b"\r", b"\x00", b"a", b"Jan  1 ", b"\xc3\xa9", b"\xe2\x82\xac", b"\xff",
                          b"\xc3", b"\xf0\x9f\x93\xa7", b"  ", b"x" * 40])
DATA = st.lists(PIECES, max_size=80).map(b"".join)


def _stdin(monkeypatch, data: bytes) -> Source:
    class FakeStdin:
        buffer = io.BytesIO(data)

    monkeypatch.setattr(sys, "stdin", FakeStdin())
    return Source("-", "<stdin>")


def _reference(data: bytes) -> list[str]:
    """What the reader did before it was bounded: text lines, invalid UTF-8 as U+FFFD, no CR/LF."""
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="replace", newline="\n")
    return [line.rstrip("\r\n") for line in text]


@settings(max_examples=300, deadline=None)
@given(DATA, st.sampled_from([3, 7, 16, inputs.BLOCK]))
def test_reader_reads_what_a_text_file_holds(data, block):
    """Block by block (any block size, so multi-byte characters and CRLF fall across block
    boundaries), the same lines as a text file of these bytes; NULs at a line start may go."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(inputs, "BLOCK", block)
        got = list(read_lines(_stdin(mp, data)))
        numbered = list(inputs.read_numbered(_stdin(mp, data)))
    want = _reference(data)
    assert [g.lstrip("\x00") for g in got] == [w.lstrip("\x00") for w in want]
    assert numbered == [(n, line) for n, line in enumerate(got, 1) if line]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([b"a" * 20, b"b" * 70, b"\x00" * 60, b"\n", b"\xc3\xa9" * 30, b"c"]), max_size=30)
       .map(b"".join), st.sampled_from([7, 16, 40]))
def test_reader_bounds_lines(data, block):
    """With a 50-character limit: a longer line comes as Overlong (its start and its length), every
    other line as it is; what follows an overlong line is never lost."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(inputs, "BLOCK", block)
        mp.setattr(inputs, "MAX_LINE", 50)
        got = list(read_lines(_stdin(mp, data)))
    want = [w.lstrip("\x00") for w in _reference(data)]
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        if len(w) > 50:
            assert isinstance(g, inputs.Overlong) and g.startswith(w[:51].lstrip("\x00")[:10])
            assert g.length >= len(w)
        else:
            assert g.lstrip("\x00") == w


def test_blank_lines_are_numbered_but_not_read(tmp_path):
    p = write(tmp_path / "mail.log", "\n\n" + line("1A2B3C4D5E") + "\r\n\r\n\n" + line("1A2B3C4D5F") + "\n\n")
    assert list(inputs.read_numbered(resolve([p])[0])) == [(3, line("1A2B3C4D5E")), (6, line("1A2B3C4D5F"))]
    assert [(e.lineno, e.qid) for e in iter_events([p], year=2024)] == [(3, "1A2B3C4D5E"), (6, "1A2B3C4D5F")]


def test_a_flood_of_line_breaks_costs_no_list(tmp_path):
    p = tmp_path / "mail.log"
    p.write_bytes(b"\n" * (3 * inputs.BLOCK) + line("1A2B3C4D5E").encode() + b"\n")
    blocks = list(inputs._guarded_blocks(resolve([str(p)])[0]))
    counted = sum(b for b in blocks if isinstance(b, int))  # blocks of nothing but line breaks
    listed = sum(len(b) for b in blocks if not isinstance(b, int))
    assert counted + listed == 3 * inputs.BLOCK + 1 and counted >= 2 * inputs.BLOCK
    assert list(inputs.read_numbered(resolve([str(p)])[0])) == [(3 * inputs.BLOCK + 1, line("1A2B3C4D5E"))]


def test_nuls_before_a_line_are_dropped_however_many(tmp_path):
    p = tmp_path / "mail.log"
    p.write_bytes(b"\x00" * (5 * MAX_LINE + 3) + line("1A2B3C4D5E").encode() + b"\n" + line("1A2B3C4D5F").encode())
    assert [e.qid for e in _events(p)] == ["1A2B3C4D5E", "1A2B3C4D5F"]


def test_a_line_running_on_forever_stops_the_read(tmp_path, monkeypatch):
    monkeypatch.setattr(inputs, "MAX_RUN", 10 * MAX_LINE)
    for filler in (b"x", b"\x00"):
        p = tmp_path / "mail.log"
        p.write_bytes(line("1A2B3C4D5E").encode() + b"\n" + filler * (11 * MAX_LINE))
        with pytest.raises(InputError) as e:
            _events(p)
        assert "line 2 runs on for more than" in one_line_error(e.value)


def test_stdin_is_read_as_it_comes(monkeypatch):
    """A pipe's lines are handed on as they arrive (read1), not when a block is full."""
    r, w = os.pipe()
    os.write(w, (line("1A2B3C4D5E") + "\n").encode())

    class PipeStdin:
        buffer = io.BufferedReader(io.FileIO(r, "rb"))

    monkeypatch.setattr(sys, "stdin", PipeStdin())
    lines = read_lines(Source("-", "<stdin>"))
    assert next(lines) == line("1A2B3C4D5E")  # the writer has not closed the pipe: no block is full
    os.close(w)
    assert list(lines) == []
