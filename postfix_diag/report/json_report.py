"""JSON report; the schema is docs/report-schema.json (a test validates output against it)."""

from __future__ import annotations

import json

from .. import __version__

SCHEMA_VERSION = 1


def document(analysis, top: int = 10) -> dict:
    doc = {"schema_version": SCHEMA_VERSION, "tool": f"postfix-diag {__version__}"}
    doc.update(analysis.as_dict(top_unrecognized=top))
    return doc


def render(analysis, top: int = 10) -> str:
    # ensure_ascii keeps every control character escaped (\u001b), so the JSON is terminal-safe
    return json.dumps(document(analysis, top), indent=2, ensure_ascii=True) + "\n"
