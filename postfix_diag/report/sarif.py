"""SARIF 2.1.0 for `check --format sarif` (GitHub code scanning and other dashboards).

tool.driver.rules comes from the rule catalog (postfix_diag.rules.catalog()) plus any rule a
finding names that the catalog lacks. Every finding is a result: ruleId, level (critical/error →
error, warning → warning, notice/info → note), message, the first sample line as its location,
and a partial fingerprint of rule ID + key so that dashboards track it across runs although
line numbers change. With a baseline, results carry baselineState ("new"/"unchanged") and the
known ones an external suppression.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.parse
from pathlib import Path

from .. import __version__
from ..model import KNOWN, CheckResult
from .common import details, first_location, label
from .escape import terminal

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {"critical": "error", "error": "error", "warning": "warning", "notice": "note", "info": "note"}
FINGERPRINT = "postfixDiag/v1"


def _catalog() -> list[dict]:
    try:
        from ..rules import catalog
    except ImportError:
        return []
    try:
        rows = catalog()
    except Exception:  # noqa: BLE001 - a broken catalog must not break the report
        return []
    return [r for r in rows if isinstance(r, dict) and r.get("id")]


def _help(rule_id: str) -> str | None:
    try:
        from ..rules import explain
    except ImportError:
        return None
    try:
        return explain(rule_id)
    except Exception:  # noqa: BLE001
        return None


def _text(text) -> str:
    return terminal(text)


def artifact_uri(path: str) -> str:
    """A file name as a SARIF URI reference: relative paths stay relative (forward slashes,
    percent-encoded), absolute ones become file:// URIs."""
    if not path or path in ("-", "<stdin>"):
        return "stdin"
    if os.path.isabs(path):
        return Path(path).as_uri()
    return urllib.parse.quote(path.replace(os.sep, "/"), safe="/")


def _rule(row: dict) -> dict:
    rid = str(row["id"])
    severity = row.get("severity") or "warning"
    rule = {"id": rid}
    if row.get("name"):
        rule["name"] = str(row["name"])
    title = row.get("title") or rid
    rule["shortDescription"] = {"text": _text(title)}
    help_text = _help(rid)
    rule["help"] = {"text": help_text if help_text else f"Run `postfix-diag explain {rid}` for the full page."}
    rule["defaultConfiguration"] = {"level": LEVEL.get(severity, "warning")}
    props = {"severity": severity}
    if row.get("category"):
        props["category"] = row["category"]
        props["tags"] = ["postfix", str(row["category"])]
    rule["properties"] = props
    return rule


def fingerprint(rule_id: str, key: str | None) -> str:
    return hashlib.sha256(f"{rule_id}\0{'' if key is None else key}".encode("utf-8", "replace")).hexdigest()[:32]


def build(result: CheckResult) -> dict:
    rows = {r["id"]: r for r in _catalog()}
    for f in result.findings:
        rows.setdefault(f.id, {"id": f.id, "title": f.title, "category": f.category, "severity": f.severity})
    rule_list = [_rule(r) for r in rows.values()]
    index = {r["id"]: i for i, r in enumerate(rule_list)}
    results = []
    for f, state in result.items():
        message = "\n".join(_text(line) for line in [label(f), *details(f)])
        res = {
            "ruleId": f.id,
            "ruleIndex": index[f.id],
            "level": LEVEL.get(f.severity, "warning"),
            "message": {"text": message},
            "partialFingerprints": {FINGERPRINT: fingerprint(f.id, f.key)},
            "properties": {"severity": f.severity, "category": f.category, "key": f.key, "count": f.count},
        }
        loc = first_location(f)
        if loc is not None:
            physical = {"artifactLocation": {"uri": artifact_uri(loc[0])}}
            if loc[1] and loc[1] >= 1:
                physical["region"] = {"startLine": int(loc[1])}
            res["locations"] = [{"physicalLocation": physical}]
        elif result.sources:
            res["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": artifact_uri(result.sources[0])}}}]
        if result.baseline is not None:
            res["baselineState"] = "unchanged" if state == KNOWN else "new"
            if state == KNOWN:
                res["suppressions"] = [{"kind": "external",
                                        "justification": _text(f"in baseline {result.baseline.path}")}]
        results.append(res)
    run = {
        "tool": {"driver": {"name": "postfix-diag", "version": __version__, "semanticVersion": __version__,
                            "rules": rule_list}},
        "columnKind": "unicodeCodePoints",
        "results": results,
        "invocations": [{"executionSuccessful": True, "exitCode": result.exit_code}],
        "properties": {"failOn": result.fail_on,
                       "baseline": result.baseline.path if result.baseline is not None else None},
    }
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def render(result: CheckResult) -> str:
    return json.dumps(build(result), indent=2, ensure_ascii=True) + "\n"
