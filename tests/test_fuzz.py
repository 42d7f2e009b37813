"""Property tests: the parser never raises, whatever the bytes."""

from __future__ import annotations

import io
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postfix_diag.grammar import load
from postfix_diag.inputs import InputError, Source, read_lines
from postfix_diag.parse import Parser

PARSER = Parser(year=2024)
PROGRAMS = sorted({*load().programs, "qmgr", "pickup", "postfix-script", "postsuper", "nosuchdaemon"})
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ENVELOPES = [
    "Jan  1 00:00:00 host {tag}[1]: ",
    "Dec 31 23:59:59.123 host {tag}: ",
    "2024-01-01T12:00:00.123456+01:00 host {tag}[42]: ",
    "2024-01-01T12:00:00+0100 host mail.info {tag}[42]: ",
    "2021-03-08T07:21:23.496826493Z Mar  8 07:21:23 host {tag}[2990]: ",
    "<22>1 2024-01-01T00:00:00Z host {tag} 123 - - ",
    "{tag}: ",
]
# Characters the grammar splits on, so random bodies look like Postfix messages often enough to
# get deep into the rules.
ALPHABET = st.sampled_from(list("[]<>:;,=/()@.- \"'\\0aZ9\t") + ["\x00", "\ufffd", "é"])
FRAGMENTS = st.sampled_from([
    "NOQUEUE: ", "1A2B3C4D5E: ", "reject: ", "RCPT from ", "unknown[192.0.2.1]", "[2001:db8::1]:25",
    "to=<", "from=<", ">, ", "relay=", "delay=1.5, ", "delays=0/0/0/0, ", "dsn=5.1.1, ", "status=",
    "sent (", "250 2.0.0 ", "warning: ", "fatal: ", "connect from ", "lost connection after ",
    " bytes)", "SASL LOGIN authentication failed: ", "TLS connection established ", "proto=ESMTP ",
    "helo=<", "; ", "message-id=<", "size=", "nrcpt=", "(queue active)", "removed", "CONNECT ",
    "PASS NEW ", "PREGREET ", " after ", "statistics: max ", "addr ", " listed by domain ",
])
BODIES = st.lists(st.one_of(FRAGMENTS, st.text(ALPHABET, max_size=8), st.text(max_size=5)), max_size=25).map("".join)


def _check(ev, line):
    assert ev.kind
    assert isinstance(ev.f, dict)
    assert ev.line is not None


@SETTINGS
@given(st.binary(max_size=2000))
def test_any_bytes_through_the_reader(data):
    """Raw bytes, decoded as the reader does (errors='replace'), line by line."""
    for lineno, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        _check(PARSER.parse_line(line, "<fuzz>", lineno), line)


MAGIC = st.sampled_from([b"", b"", b"\x1f\x8b", b"\x1f\x8b\x08\x00", b"BZh9", b"\xfd7zXZ\x00"])


@SETTINGS
@given(st.builds(bytes.__add__, MAGIC, st.binary(max_size=2000)))
def test_any_bytes_via_read_lines(data):
    """The same bytes through `read_lines` on stdin (compressed-looking prefixes included)."""
    class FakeStdin:
        buffer = io.BytesIO(data)

    saved = sys.stdin
    sys.stdin = FakeStdin()
    try:
        try:
            for lineno, line in enumerate(read_lines(Source("-", "<stdin>")), 1):
                _check(PARSER.parse_line(line, "<stdin>", lineno), line)
        except InputError as exc:  # e.g. bytes starting with a gzip magic: one-line error, fine
            assert "\n" not in str(exc)
    finally:
        sys.stdin = saved


@SETTINGS
@given(st.sampled_from(ENVELOPES), st.sampled_from(PROGRAMS),
       st.sampled_from(["postfix/", "postfix-out/", "postfix/submission/"]), BODIES)
def test_valid_envelope_random_body(envelope, program, prefix, body):
    tag = prefix + program
    line = envelope.format(tag=tag) + body
    ev = PARSER.parse_line(line, "<fuzz>", 1)
    _check(ev, line)
    if "\x00" not in line[:1] and len(line) < 32 * 1024 and ev.kind != "unrecognized":
        assert ev.program == program or ev.kind == "foreign"


@SETTINGS
@given(st.text(max_size=300))
def test_random_text(text):
    _check(PARSER.parse_line(text, "<fuzz>", 1), text)
