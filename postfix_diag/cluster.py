"""A fleet on Dask: ``--scheduler ADDRESS`` reads each input as a task on a ``dask.distributed``
cluster, and merges the streams the tasks return (pipeline.Stream.merge), in the order given, in
this process: the answer of reading them all here, one after the other.

An input is a local path (a file, glob or directory, resolved here as usual: the workers must see
it at the same path, as on one machine or a shared file system) or an fsspec URL
(``s3://bucket/mx1/mail.log``, ``sftp://mx2/var/log/mail.log``, ``file:///...``), opened where the
task runs; compressed files are recognized by their first bytes as locally. Each input is one
task, never cut by bytes: one host's log per input is the usual fleet. Every event keeps its
syslog host, and the rule engine keeps a rule set per host, so the findings of a merged fleet are
each about their host (``Finding.host``).

The tasks return each input's consumer state (the interface of pieces in pipeline.py), never
per-line events. The workers need postfix-diag installed (the same version); the client needs the
``cluster`` extra: ``pip install 'postfix-diag[cluster]'`` (dask[distributed], fsspec).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .events import SourceName
from .inputs import STDIN, InputError, Source, read_numbered, read_opened

INSTALL = "pip install 'postfix-diag[cluster]'"
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
CONNECT_TIMEOUT = "20s"


def is_url(arg: str) -> bool:
    return bool(_URL.match(arg))


def resolve(paths: list[str] | None) -> list[Source]:
    """The inputs in order: URLs as given, local arguments through inputs.resolve."""
    from .inputs import resolve as local

    if not paths:
        return local([])
    out: list[Source] = []
    for arg in paths:
        if arg == STDIN:
            raise InputError("--scheduler: standard input cannot be read by the cluster's workers: give files or URLs")
        out.extend([Source(arg, arg)] if is_url(arg) else local([arg]))
    return out


def run(sources: list[Source], make: Callable, parser, scheduler: str,
        progress: Callable[[str], None] | None = None):
    """One task per source on the cluster at ``scheduler``; their streams merged in order into
    ``make(head=True)``."""
    try:
        from distributed import Client
    except ImportError:  # (the CLI says so before: cli/app.py's --scheduler)
        raise InputError(f"--scheduler needs Dask: {INSTALL}") from None
    recipe = parser_recipe(parser)
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(f"--scheduler {scheduler}: cannot connect: {exc}") from None
    stream = make(head=True)
    try:
        tasks = [client.submit(read_source, make, recipe, s.path, str(s.display), getattr(s.display, "rank", 0),
                               pure=False) for s in sources]
        for source, task in zip(sources, tasks, strict=True):
            if progress is not None:
                progress(source.display)
            stream.merge(task.result())
    finally:
        client.close()
    return stream


def parser_recipe(parser) -> tuple:
    """What a worker builds the same parser from: (year, fields)."""
    if getattr(parser, "selection", None) is not None:
        raise ValueError("cluster: a parser with a selection cannot be sent to workers")
    fields = parser._wanted  # (with the fields the parser adds itself: those the grammar has are asked for)
    if fields is None:
        return parser.year, None
    known = parser.grammar.fields_by_kind
    return parser.year, tuple(sorted((k, tuple(sorted(set(v) & set(known[k])))) for k, v in fields.items()))


_PARSERS: dict = {}  # recipe -> Parser, in a worker process (the grammar is compiled once)


def _parser(recipe: tuple):
    got = _PARSERS.get(recipe)
    if got is None:
        from .parse import Parser

        year, fields = recipe
        got = _PARSERS[recipe] = Parser(year=year, fields=None if fields is None else {k: set(v) for k, v in fields})
    return got


def read_source(make: Callable, recipe: tuple, path: str, display: str, rank: int):
    """Task: the stream of one whole input (a local path or an fsspec URL), read on a worker."""
    from .parse import YearGuesser

    parser = _parser(recipe)
    name = SourceName(display, rank)
    source = Source(path, name)
    stream = make(head=False)
    if is_url(path):
        import fsspec

        try:
            opened = fsspec.open(path, "rb")
            mtime = _modified(opened)
            with opened as fh:
                years = YearGuesser(recipe[0], mtime)
                stream.feed_all(parser.parse_stream(read_opened(fh, source), name, years))
        except (OSError, ValueError, ImportError) as exc:  # (fsspec: a missing file, no such protocol...)
            raise InputError(f"{display}: cannot read on the cluster: {exc}") from None
    else:
        years = YearGuesser(recipe[0], source.mtime)
        stream.feed_all(parser.parse_stream(read_numbered(source), name, years))
    if years.years_used:
        stream.assumptions[name] = years.describe()
    stream.flush()
    return stream


def _modified(opened) -> float | None:
    """The modification time of an fsspec file (for classic stamps' year), if its file system says."""
    try:
        return opened.fs.modified(opened.path).timestamp()
    except Exception:  # noqa: BLE001 - many file systems do not keep one
        return None
