"""Reading JSON that someone else wrote: baselines, `postqueue -j` snapshots, state files.

Such a file may be corrupt, truncated, endless (`/dev/zero`) or crafted. ``load`` reads it with
limits and a schema check, and every problem is one ``JsonInputError`` line naming the file:

- size: at most ``max_bytes`` are read (a larger file or an endless stream is refused);
- depth: nesting deeper than ``max_depth`` arrays/objects is refused before parsing (the standard
  parser would recurse until RecursionError);
- numbers: NaN and Infinity (Python's json accepts them), floats that overflow to infinity, and
  integers of more than ``MAX_INT_DIGITS`` digits (which cost quadratic time, and past 4,300
  digits raise ValueError) are refused;
- text: invalid UTF-8 is refused;
- shape: ``check(value, schema, where)`` validates a decoded value against a small schema (a type,
  a tuple of types, ``[item schema]``, or ``{"key": schema}`` with optional keys marked by a
  trailing ``?``).

``lines=True`` reads JSON lines (one value per line, blank lines skipped), as `postqueue -j` writes.
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import IO, Any

from .inputs import InputError

MiB = 1024 * 1024
MAX_DEPTH = 64
MAX_INT_DIGITS = 30
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = bytes(range(256)).translate(None, b"[]{}")  # every byte but the brackets, to delete


class JsonInputError(InputError):
    """A JSON input that cannot be used; the message names the file and fits on one line."""


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits")
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > 100:
        raise ValueError(f"a number of {len(text)} characters")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is out of range")
    return value


def depth(data: bytes | str, stop: int | None = None) -> int:
    """The deepest nesting of arrays and objects in JSON text (strings skipped), in linear time;
    counting ends as soon as it passes ``stop``."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    brackets = _STRINGS.sub(b'""', data).translate(None, _BRACKETS)
    deepest = level = 0
    for b in brackets:
        if b in (0x5B, 0x7B):  # [ {
            level += 1
            if level > deepest:
                deepest = level
                if stop is not None and deepest > stop:
                    break
        else:
            level -= 1
    return deepest


def read_bytes(source: str | os.PathLike | IO[bytes], name: str, max_bytes: int) -> bytes:
    """At most ``max_bytes`` of a file or binary stream; JsonInputError if there is more."""
    try:
        if isinstance(source, (str, os.PathLike)):
            if os.path.isdir(source):
                raise JsonInputError(f"{name}: is a directory")
            with open(source, "rb") as fh:
                data = fh.read(max_bytes + 1)
        else:
            data = source.read(max_bytes + 1)
    except FileNotFoundError:
        raise JsonInputError(f"{name}: no such file") from None
    except OSError as exc:
        raise JsonInputError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    if len(data) > max_bytes:
        raise JsonInputError(f"{name}: larger than {max_bytes // MiB} MiB, the limit for this file "
                             "(is it the right file?)")
    return data


def text_of(data: bytes, name: str) -> str:
    """The text of JSON bytes; JsonInputError unless they are UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonInputError(f"{name}: not valid JSON: not UTF-8 text (byte {exc.start}: "
                             f"{data[exc.start:exc.start + 1]!r})") from None


def parse_text(text: str, where: str, max_depth: int = MAX_DEPTH) -> Any:
    """Decode one JSON value with the depth and number limits."""
    deepest = depth(text, stop=max_depth)
    if deepest > max_depth:
        raise JsonInputError(f"{where}: JSON nested more than {max_depth} levels deep")
    return _decode(_DECODER, text, where)


def parse_lines(text: str, name: str, max_depth: int = MAX_DEPTH) -> list[tuple[int, Any]]:
    """JSON lines: (line number, value) for every line that is not blank."""
    return [(lineno, parse_text(line, f"{name}: line {lineno}", max_depth))
            for lineno, line in enumerate(text.split("\n"), 1) if line.strip()]


def parse(data: bytes, name: str, *, lines: bool = False, max_depth: int = MAX_DEPTH) -> Any:
    """Decode JSON bytes (or JSON lines: the list of their values) with the limits above."""
    text = text_of(data, name)
    if lines:
        return [value for _, value in parse_lines(text, name, max_depth)]
    return parse_text(text, name, max_depth)


_DECODER = json.JSONDecoder(parse_int=_parse_int, parse_float=_parse_float, parse_constant=_reject_constant)


def _decode(decoder: json.JSONDecoder, text: str, where: str) -> Any:
    try:
        return decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise JsonInputError(f"{where}: not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:
        raise JsonInputError(f"{where}: not usable JSON: {exc}") from None


def load(source: str | os.PathLike | IO[bytes], name: str | None = None, *, max_bytes: int = 16 * MiB,
         max_depth: int = MAX_DEPTH, lines: bool = False) -> Any:
    """Read and decode a JSON file or stream with size, depth and number limits."""
    name = name if name is not None else (os.fspath(source) if isinstance(source, (str, os.PathLike)) else "<stdin>")
    return parse(read_bytes(source, name, max_bytes), name, lines=lines, max_depth=max_depth)


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list",
               dict: "an object", type(None): "null"}


def _describe(schema) -> str:
    if isinstance(schema, tuple):
        return " or ".join(_describe(s) for s in schema)
    if isinstance(schema, list):
        return "a list"
    if isinstance(schema, dict):
        return "an object"
    return _TYPE_NAMES.get(schema, schema.__name__)


def _is(value, t) -> bool:
    if t is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, t)


def check(value: Any, schema: Any, where: str) -> None:
    """JsonInputError unless ``value`` has the shape ``schema`` describes (see the module docstring);
    keys a schema does not name are allowed (newer writers may add some)."""
    if isinstance(schema, tuple):
        if any(_matches(value, s) for s in schema):
            return
        raise JsonInputError(f"{where} must be {_describe(schema)}")
    if isinstance(schema, list):
        if not isinstance(value, list):
            raise JsonInputError(f"{where} must be a list")
        for i, item in enumerate(value):
            check(item, schema[0], f"{where}[{i}]")
        return
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            raise JsonInputError(f"{where} must be an object")
        for key, sub in schema.items():
            optional = key.endswith("?")
            key = key.rstrip("?")
            if key not in value:
                if optional:
                    continue
                raise JsonInputError(f'{where} lacks "{key}"')
            check(value[key], sub, f"{where}.{key}")
        return
    if not _is(value, schema):
        raise JsonInputError(f"{where} must be {_describe(schema)}")


def _matches(value, schema) -> bool:
    try:
        check(value, schema, "")
    except JsonInputError:
        return False
    return True
