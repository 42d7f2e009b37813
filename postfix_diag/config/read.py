"""Read configuration sources into a `Config`: files (recognized by content) and directories."""

from __future__ import annotations

import os
from pathlib import Path

from .model import Config
from .syntax import MAIN, MASTER, MAX_BYTES, UNREADABLE, Parsed, Problem, parse_bytes


class ConfigError(ValueError):
    """A configuration problem, as one line ``file:line: message`` (``load(..., strict=True)``)."""

    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


def _read_bytes(path: Path) -> bytes:
    """At most MAX_BYTES + 1 bytes (so that parse_bytes can tell the file was larger)."""
    with open(path, "rb") as fh:
        return fh.read(MAX_BYTES + 1)


def unreadable(name: str, message: str) -> Parsed:
    """A source that could not be read, as a Parsed of kind ``unreadable`` with its problem."""
    return Parsed(name=name, kind=UNREADABLE, lines=0, problems=[Problem(name, 0, message)])


def read_source(path) -> list[Parsed]:
    """Parse one path: a file (recognized by content), or a directory (its main.cf and master.cf,
    known by name). Never raises for bad input: what cannot be read is an ``unreadable`` source."""
    path = Path(path)
    try:
        is_dir = path.is_dir()
    except OSError as exc:
        return [unreadable(str(path), f"cannot read: {exc.strerror or exc}")]
    if is_dir:
        found = [_parse_file(path / name, kind) for name, kind in (("main.cf", MAIN), ("master.cf", MASTER))
                 if (path / name).exists()]
        return found or [unreadable(str(path), "directory has neither main.cf nor master.cf")]
    return [_parse_file(path, None)]


def _parse_file(path: Path, kind) -> Parsed:
    try:
        if not path.is_file():
            return unreadable(str(path), "not a regular file" if path.exists() else "no such file")
        data = _read_bytes(path)
    except OSError as exc:
        return unreadable(str(path), f"cannot read: {exc.strerror or exc}")
    return parse_bytes(data, str(path), kind)


def load(paths, *, strict: bool = False, host_values: dict | None = None) -> Config:
    """A Config from files and directories (``--config PATH``, repeatable). Later sources
    override earlier ones, as later lines of main.cf do. Problems are collected on
    ``Config.problems`` and reading goes on; ``strict=True`` raises `ConfigError` for the first
    problem of severity error instead."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    parsed = [(p, "file") for path in paths for p in read_source(path)]
    config = Config(parsed, host_values=host_values)
    if strict:
        for problem in config.problems:
            if problem.severity == "error":
                raise ConfigError(problem)
    return config


def from_text(*texts, host_values: dict | None = None) -> Config:
    """A Config from texts: ``from_text(("main.cf", text), ("master.cf", text2))`` or bare texts
    (then named ``<text N>``); each is recognized by content. For tests and command output."""
    parsed = []
    for n, item in enumerate(texts, 1):
        name, text = item if isinstance(item, tuple) else (f"<text {n}>", item)
        data = text.encode("utf-8", errors="surrogateescape") if isinstance(text, str) else text
        parsed.append((parse_bytes(data, name), "text"))
    return Config(parsed, host_values=host_values)
