"""`rules` output: the rule catalog as a table, JSON, or the Markdown of docs/rules.md.

``rows`` are rules.catalog()'s dicts (id, name, category, severity, title, ...). The Markdown pages
come from each rule's own documentation (rules/docs.py), which is where a rule's text lives.
"""

from __future__ import annotations

import json

from .escape import terminal


def render_text(rows: list[dict]) -> str:
    from tabulate import tabulate

    table = [[terminal(r[k]) for k in ("id", "category", "severity", "status", "title")] for r in rows]
    return tabulate(table, headers=["id", "category", "severity", "status", "title"], tablefmt="simple") + "\n"


def render_json(rows: list[dict]) -> str:
    return json.dumps(rows, indent=2, ensure_ascii=True) + "\n"


def render_markdown(rows: list[dict]) -> str:
    from ..rules import docs_markdown

    return docs_markdown()
