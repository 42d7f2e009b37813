"""`qshape` output: qshape's text table (byte for byte, as Postfix's Perl script prints it) and JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..model import QueueShape, from_perl_bytes
from .escape import terminal

_DWIDTH = 18  # qshape's minimum width of the domain column


def render_text(shape: QueueShape, extra: dict | None = None) -> str:
    """qshape's table: the heading row, the TOTAL row, one row per domain."""
    total = next(r for r in shape.rows if r.domain == "TOTAL").counts
    widths: list[int] = []
    dw = shape.width
    for i, h in enumerate(shape.headings):
        lt = len(str(total[i]))
        if len(h) >= lt:
            lt = len(h)
        lt = lt + 1 if lt > 2 else 3
        widths.append(lt)
        dw -= lt
    if dw < _DWIDTH:
        dw = _DWIDTH

    out: list[str] = []

    def pdomain(d: str, cells: Sequence[Any]) -> None:
        n = len(d)
        if n > dw:
            if d[:1] == ".":
                head = ".+" + d[n - dw + 2 :]
            else:
                head = "+" + d[n - dw + 1 :]
        else:
            head = " " * (dw - n) + d
        out.append(head + "".join(str(c).rjust(w) for c, w in zip(cells, widths, strict=True)) + "\n")

    pdomain("", shape.headings)
    for r in shape.rows:
        pdomain(_shown(r.domain), r.counts)
    return from_perl_bytes("".join(out))


def _shown(domain: str) -> str:
    """A domain as printed: controls, bidi and invisible characters made visible (escape.terminal),
    back in qshape's one-char-per-byte form, so that widths and truncation count the escapes."""
    try:
        domain.encode("ascii")
    except UnicodeEncodeError:
        return terminal(from_perl_bytes(domain)).encode("utf-8", "surrogateescape").decode("latin-1")
    return terminal(domain)


def _bucket_bounds(shape: QueueShape) -> list[dict[str, Any]]:
    out = []
    lo: float = 0
    for i, label in enumerate(shape.headings[1:], 1):
        if i == shape.bucket_count:
            out.append({"label": label, "min_minutes": lo, "max_minutes": None})
            break
        hi = float(label)
        hi = int(hi) if hi.is_integer() else hi
        out.append({"label": label, "min_minutes": lo, "max_minutes": hi})
        lo = hi
    return out


def shape_to_dict(shape: QueueShape) -> dict[str, Any]:
    """The JSON form: ``{"now", "queues", "by", "messages", "buckets", "rows": [{"domain", "total",
    "counts"}]}``."""
    return {
        "now": shape.now,
        "queues": shape.queues,
        "by": "sender" if shape.senders else "recipient",
        "messages": shape.messages,
        "buckets": _bucket_bounds(shape),
        "rows": [
            {
                "domain": r.name,
                "total": r.total,
                "counts": r.counts[1:],
                **({"parent": True, "subdomains": r.subdomains} if r.parent else {}),
            }
            for r in shape.rows
        ],
    }


def render_json(shape: QueueShape, extra: dict | None = None) -> str:
    """The shape as JSON (ASCII-escaped), with ``extra`` keys (source, findings) after it."""
    d = shape_to_dict(shape)
    if extra:
        d.update(extra)
    return json.dumps(d, indent=2, ensure_ascii=True) + "\n"
