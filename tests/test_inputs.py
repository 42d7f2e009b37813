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
    assert evs[0].f == {"reason": "line too long"}
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
