"""journalctl output that is not a syslog line: `journalctl -o json` entries, and the journal's own
header, footer, boot and catalog lines.

`journalctl -o json` writes one JSON object per entry and line (systemd.journal-fields(7), the
Journal JSON Format of systemd.io/JOURNAL_EXPORT_FORMATS): every field a string, except that a
value that is not valid UTF-8 (or holds control characters) is an array of byte values, a field
set more than once is an array of its values, and a field larger than 4096 bytes is null unless
``--all`` is given. A Postfix daemon's entry (it logs through syslog(3)) has SYSLOG_IDENTIFIER
"postfix/smtpd", SYSLOG_PID and _PID, _HOSTNAME, __REALTIME_TIMESTAMP (µs since the epoch, UTC)
and MESSAGE (the text after the syslog tag).

Entries are hostile input like any log line: a line is at most inputs.MAX_LINE characters,
nesting deeper than journal entries have (an object of arrays of arrays) is refused before
decoding, constants (NaN, Infinity), floats and integers of more than 20 digits are refused while decoding, and only
the fields read here are looked at, with their types checked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

MAX_DEPTH = 3  # {"F": [[104, 105], "x"]}: a field set twice with a binary value
MAX_TIMESTAMP_DIGITS = 20
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")
_DIGITS = re.compile(r"\d{1,20}")
# The journal's own lines in journalctl's text outputs: "-- Journal begins at ... --",
# "-- Logs begin at ...", "-- No entries --", "-- Boot 0123... --", "-- Reboot --", and with -x the
# catalog text, each line after "-- " (or "░░ " in a UTF-8 locale).
_MARKER = re.compile(r"(?:--|\u2591\u2591)(?: .*)?")


def is_marker(line: str) -> bool:
    return _MARKER.fullmatch(line) is not None


def _refuse(value):
    raise ValueError(f"not in a journal entry: {value[:20]}")


def _small_int(text: str) -> int:
    if len(text) > 20:  # journal JSON holds byte values only; a wrapper's offsets fit in 20 digits
        raise ValueError("number out of range")
    return int(text)


_DECODER = json.JSONDecoder(parse_constant=_refuse, parse_float=_refuse, parse_int=_small_int)


def _too_deep(line: str) -> bool:
    depth = 0
    for ch in _BRACKETS.findall(_STRINGS.sub("", line)):
        if ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        else:
            depth -= 1
    return False


def decode_object(line: str):
    """The JSON object of ``line``, or None when it is not one within the bounds above."""
    if _too_deep(line):
        return None
    try:
        obj = _DECODER.decode(line)
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def _text(value) -> str | None:
    """A field's value as text: a string, or a byte array decoded as UTF-8 (invalid bytes become
    U+FFFD); of a field set more than once, the first value."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value:
        if all(isinstance(b, int) and 0 <= b <= 255 for b in value):
            return bytes(value).decode("utf-8", "replace")
        return _text(value[0]) if isinstance(value[0], (str, list)) else None
    return None


@dataclass
class Entry:
    """What the parser reads from one journal entry."""

    ts: float | None  # __REALTIME_TIMESTAMP in seconds (UTC)
    host: str | None
    identifier: str | None  # SYSLOG_IDENTIFIER, else _COMM
    pid: int | None  # SYSLOG_PID, else _PID
    message: str | None  # None: no MESSAGE, or null (larger than 4096 bytes without --all)


def entry(obj: dict) -> Entry | None:
    """The entry of a decoded `journalctl -o json` object, or None when it is not one (no
    __REALTIME_TIMESTAMP, or neither MESSAGE nor an identifier)."""
    stamp = _text(obj.get("__REALTIME_TIMESTAMP"))
    if stamp is None or not _DIGITS.fullmatch(stamp):
        return None
    ident = _text(obj.get("SYSLOG_IDENTIFIER")) or _text(obj.get("_COMM"))
    if "MESSAGE" not in obj and ident is None:
        return None
    pid = _text(obj.get("SYSLOG_PID")) or _text(obj.get("_PID"))
    return Entry(int(stamp) / 1e6, _text(obj.get("_HOSTNAME")), ident,
                 int(pid) if pid is not None and _DIGITS.fullmatch(pid) else None,
                 _text(obj.get("MESSAGE")))


# Other JSON wrappers around a syslog line: Docker's json-file log driver ("log"), filebeat and
# logstash ("message"), and loggers that name it "msg".
WRAPPER_FIELDS = ("log", "message", "msg")


def wrapped_line(obj: dict) -> str | None:
    for name in WRAPPER_FIELDS:
        value = obj.get(name)
        if isinstance(value, str) and value:
            return value.rstrip("\r\n")
    return None
