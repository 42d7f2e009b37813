"""Hostile configuration files: each gives one-line problems with file:line, never a traceback,
and stays within the reader's bounds (bytes read, lines read, expansion depth, calls and size).
The bounds are asserted through their messages and traced memory, not through wall time."""

from __future__ import annotations

import os
import random
import tracemalloc

import pytest

from postfix_diag import config
from postfix_diag.config import expand as expand_mod
from postfix_diag.config import syntax

MiB = 1024 * 1024


def read(data: bytes, name: str = "f.cf") -> config.Config:
    return config.from_text((name, data))


def peak_mib(fn) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / MiB
    finally:
        tracemalloc.stop()


def messages(cfg) -> list[str]:
    return [str(p) for p in cfg.problems]


def test_binary_junk_is_not_a_configuration():
    rng = random.Random(12)
    data = rng.randbytes(300_000)
    cfg = read(data, "junk.bin")
    assert cfg.sources[0].kind == "unrecognized"
    assert all(m.startswith("junk.bin:") for m in messages(cfg))
    assert any("not a Postfix configuration file" in m for m in messages(cfg))
    assert len(cfg.problems) <= syntax.MAX_PROBLEMS + 2  # bounded, the rest counted


def test_nul_bytes_drop_their_line_only():
    cfg = read(b"myhostname = a\x00b\nrelayhost = [r]:25\n", "main.cf")
    assert messages(cfg) == ["main.cf:1: NUL byte in line: line ignored"]
    assert cfg.value("myhostname") is None and cfg.value("relayhost") == "[r]:25"


def test_invalid_utf8_is_reported_and_replaced():
    cfg = read(b"relayhost = [r]:25\nsmtpd_banner = caf\xe9 \xff\n", "main.cf")
    assert messages(cfg) == ["main.cf:2: invalid UTF-8 (bytes shown as U+FFFD)"]
    assert cfg.value("smtpd_banner") == "caf\ufffd \ufffd"
    assert cfg.value("relayhost") == "[r]:25"


def test_many_problems_are_counted_not_listed():
    cfg = read(b"".join(b"bad line\np%d = 1\n" % i for i in range(500)) + b"myhostname = x\n", "main.cf")
    assert len(cfg.problems) == syntax.MAX_PROBLEMS + 1
    assert messages(cfg)[-1] == f"main.cf: {500 - syntax.MAX_PROBLEMS} more problems not shown"
    assert cfg.value("myhostname") == "x"


def test_huge_file_reads_only_the_first_bytes():
    data = b"relayhost = [r]:25\n" + b"# filler comment line\n" * (6 * MiB // 22)
    assert len(data) > syntax.MAX_BYTES
    cfg = read(data, "main.cf")
    assert messages(cfg)[0] == "main.cf: larger than 4 MiB: only the first 4 MiB were read"
    assert cfg.value("relayhost") == "[r]:25"


def test_too_many_lines_stop_reading_with_a_message():
    data = b"".join(b"p%d = v\n" % i for i in range(syntax.MAX_LINES + 50))
    cfg = read(data, "main.cf")
    assert f"main.cf:{syntax.MAX_LINES + 1}: more than {syntax.MAX_LINES} lines" in messages(cfg)[-1]
    assert cfg.value("p0") == "v" and cfg.value(f"p{syntax.MAX_LINES + 10}") is None


def test_a_million_continuation_lines_are_bounded():
    peak = peak_mib(lambda: read(b"a = b\n" + b" c\n" * 1_000_000, "main.cf"))
    assert peak < 64


def test_one_megabyte_value_is_read_whole():
    value = b"x" * MiB
    cfg = read(b"a = " + value + b"\nb = $a\n", "main.cf")
    assert cfg.problems == [] and len(cfg.expanded("b")) == MiB
    cfg = read(b"a = " + b" " * MiB + b"\n", "main.cf")  # a value of only whitespace is empty
    assert cfg.value("a") == ""


def test_expansion_output_is_bounded():
    cfg = read(b"a = " + b"x" * MiB + b"\nb = $a$a$a$a$a\n", "main.cf")
    assert cfg.expanded("b") is None
    assert messages(cfg) == [f"main.cf:2: cannot expand b: expansion larger than {expand_mod.MAX_OUTPUT} characters"]


def test_cyclic_expansion_stops_at_postfix_nesting_limit():
    cfg = read(b"a = $b\nb = $c\nc = ${a}\n", "main.cf")
    assert cfg.expanded("a") is None
    assert "unreasonable macro call nesting" in messages(cfg)[0]


def test_long_reference_chain_stops_at_postfix_nesting_limit():
    n = 1000
    cfg = read(b"".join(b"v%d = $v%d\n" % (i, i + 1) for i in range(n)), "main.cf")
    assert cfg.expanded("v0") is None and "nesting" in messages(cfg)[0]
    short = read(b"".join(b"v%d = $v%d\n" % (i, i + 1) for i in range(50)) + b"v50 = end\n", "main.cf")
    assert short.expanded("v0") == "end"


def test_exponential_expansion_hits_the_call_budget():
    data = b"".join(b"v%d = $v%d $v%d\n" % (i, i + 1, i + 1) for i in range(60)) + b"v60 = x\n"
    cfg = read(data, "main.cf")
    assert cfg.expanded("v0") is None
    assert messages(cfg) == [f"main.cf:1: cannot expand v0: more than {expand_mod.MAX_CALLS} expansions "
                             "(exponential $name references?)"]


def test_deeply_nested_conditionals_and_braces():
    depth = 20_000
    cfg = read(b"a = x\nb = " + b"${a?" * depth + b"y" + b"}" * depth + b"\nc = ${" + b"{" * depth + b"\n",
               "main.cf")
    assert cfg.expanded("b") is None and cfg.expanded("c") is None
    assert [m.split(": cannot expand ")[0] for m in messages(cfg)] == ["main.cf:2", "main.cf:3"]
    assert "nesting" in messages(cfg)[0] and "truncated macro reference" in messages(cfg)[1]


def test_master_cf_with_a_huge_command_line():
    cfg = read(b"smtp inet n - y - - smtpd " + b"-o a=b " * 150_000 + b"\n", "master.cf")
    assert messages(cfg) == ["master.cf:1: more than 1000 command arguments: the rest is ignored"]
    assert cfg.service("smtp", "inet").overrides["a"].value == "b"


def test_master_cf_unbalanced_braces():
    cfg = read(b"smtp inet n - y - - smtpd -o {" + b"{" * 100_000 + b"\n", "master.cf")
    assert len(cfg.problems) == 1 and cfg.problems[0].line == 1
    assert "expected name=value" in messages(cfg)[0]


@pytest.mark.parametrize("data", [
    b"\n" * (3 * MiB),
    b"#" * (3 * MiB),
    b"a" * (3 * MiB),
    b"a = b\n" * 400_000,
    b" =\n" * 200_000,
    b"x inet " * 300_000,
    b"${" * MiB,
    os.urandom(MiB),
], ids=["newlines", "one-comment", "one-word", "duplicates", "no-names", "fields", "dollars", "random"])
def test_bounded_memory_on_hostile_input(data):
    def run():
        cfg = read(data)
        for name in list(cfg.definitions)[:5]:
            cfg.expanded(name)
        for p in cfg.problems:
            assert "\n" not in str(p)  # one line each

    assert peak_mib(run) < 96
