"""docs/rules.md is generated from the registry; this test fails when it is stale."""

from __future__ import annotations

from pathlib import Path

from postfix_diag.rules import REGISTRY, docs_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "rules.md"
REGEN = ('.venv/bin/python -c "from postfix_diag.rules import docs_markdown; '
         "open('docs/rules.md','w').write(docs_markdown())\"")


def test_rules_md_is_up_to_date():
    assert DOC.is_file(), f"docs/rules.md is missing; generate it with:\n  {REGEN}"
    assert DOC.read_text() == docs_markdown(), f"docs/rules.md is stale; regenerate it with:\n  {REGEN}"


def test_rules_md_lists_every_rule():
    text = docs_markdown()
    for rid in REGISTRY:
        assert f"## {rid}" in text
