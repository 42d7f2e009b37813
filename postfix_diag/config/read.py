"""Read configuration sources into a `Config`: files (recognized by content) and directories."""

from __future__ import annotations

import os
from pathlib import Path

from .model import Config, Source
from .syntax import MAIN, MASTER, MAX_BYTES, Parsed, Problem, parse_bytes


class ConfigError(ValueError):
    """A configuration problem, as one line ``file:line: message`` (``load(..., strict=True)``)."""

    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


def _read_bytes(path: Path) -> bytes:
    """At most MAX_BYTES + 1 bytes (so that parse_bytes can tell the file was larger)."""
    with open(path, "rb") as fh:
        return fh.read(MAX_BYTES + 1)


def read_source(path, origin: str = "file") -> tuple[list[tuple[Parsed, str]], list[Problem], list[Source]]:
    """Parse one path: a file, or a directory (its main.cf and master.cf). Never raises for bad
    input: unreadable paths become problems and sources of kind ``unreadable``."""
    path = Path(path)
    parsed: list[tuple[Parsed, str]] = []
    problems: list[Problem] = []
    sources: list[Source] = []
    try:
        is_dir = path.is_dir()
    except OSError as exc:
        is_dir = False
        problems.append(Problem(str(path), 0, f"cannot read: {exc.strerror or exc}"))
        sources.append(Source(str(path), "unreadable"))
        return parsed, problems, sources
    if is_dir:
        found = False
        for name, kind in (("main.cf", MAIN), ("master.cf", MASTER)):
            child = path / name
            if not child.exists():
                continue
            found = True
            p, bad = _parse_file(child, kind, origin)
            if p is not None:
                parsed.append((p, origin))
            else:
                problems.append(bad)
                sources.append(Source(str(child), "unreadable"))
        if not found:
            problems.append(Problem(str(path), 0, "directory has neither main.cf nor master.cf"))
            sources.append(Source(str(path), "unreadable"))
        return parsed, problems, sources
    p, bad = _parse_file(path, None, origin)
    if p is not None:
        parsed.append((p, origin))
    else:
        problems.append(bad)
        sources.append(Source(str(path), "unreadable"))
    return parsed, problems, sources


def _parse_file(path: Path, kind, origin):
    """Files in a directory are known by name (main.cf, master.cf); given files by content."""
    try:
        if not path.is_file():
            return None, Problem(str(path), 0, "not a regular file" if path.exists() else "no such file")
        data = _read_bytes(path)
    except OSError as exc:
        return None, Problem(str(path), 0, f"cannot read: {exc.strerror or exc}")
    return parse_bytes(data, str(path), kind), None


def load(paths, *, strict: bool = False, host_values: dict | None = None) -> Config:
    """A Config from files and directories (``--config PATH``, repeatable). Later sources
    override earlier ones, as later lines of main.cf do. Problems are collected on
    ``Config.problems`` and reading goes on; ``strict=True`` raises `ConfigError` for the first
    problem of severity error instead."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    parsed, problems, sources = [], [], []
    for path in paths:
        p, bad, src = read_source(path)
        parsed += p
        problems += bad
        sources += src
    config = Config(parsed, host_values=host_values, extra_sources=sources, problems=problems)
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
