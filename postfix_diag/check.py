"""The `check` command: analyze logs, compare the findings with a baseline, decide the exit status.

A finding is identified across runs by its rule ID plus its stable key (``Finding.key``: the
client, domain, service... or None when the rule reports at most one finding per log). Counts,
times, samples and severity are not part of the identity, so a count changing by one is not a
"new" finding.

Exit status (see cli.py): 0 when no finding at or above ``fail_on`` is new against the baseline
(or, without a baseline, when there is no such finding at all); 1 when there is; 2 for usage or
input errors, including an unreadable or malformed baseline file. With ``fail_on_ongoing``, only a
new finding with an incident still ongoing at the end of the log (at or above ``fail_on``)
fails: a relay outage that recovered does not, one still down does.

Baseline file (JSON, sorted by rule ID then key so that diffs are stable)::

    {"version": 1, "tool": "postfix-diag",
     "findings": [{"id": "DLV002", "key": "[relay.example]:25", "severity": "error",
                   "count": 12, "title": "..."}, ...]}

Only ``id`` and ``key`` are used for matching; ``severity``, ``count`` and ``title`` are there for
the humans reviewing the file.

The result is a model.CheckResult; the writers of its formats (text, junit, github, sarif) live in
postfix_diag/report/.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable

from .inputs import InputError
from .model import (
    FAIL,
    KNOWN,
    NEW,
    ONGOING,
    SEVERITIES,
    Baseline,
    CheckResult,
    Finding,
    Ident,
    Incident,
    at_least,
    ident,
    ident_sort,
    sort_findings,
)

BASELINE_VERSION = 1
TOOL = "postfix-diag"
DEFAULT_FAIL_ON = "warning"

def baseline_dict(findings: Iterable[Finding]) -> dict:
    """The baseline document for these findings (one entry per rule ID + key, sorted)."""
    by_ident: dict[Ident, Finding] = {}
    for f in findings:
        prev = by_ident.get(ident(f))
        if prev is None:
            by_ident[ident(f)] = f
        else:  # the same rule and key twice should not happen; keep one entry, add the counts
            by_ident[ident(f)] = Finding(id=f.id, category=f.category, title=prev.title, count=prev.count + f.count,
                                         severity=prev.severity if at_least(prev.severity, f.severity) else f.severity,
                                         key=f.key)
    entries = [
        {"id": f.id, "key": f.key, "severity": f.severity, "count": f.count, "title": f.title}
        for _, f in sorted(by_ident.items(), key=lambda item: ident_sort(item[0]))
    ]
    return {"version": BASELINE_VERSION, "tool": TOOL, "findings": entries}


def dump_baseline(findings: Iterable[Finding]) -> str:
    return json.dumps(baseline_dict(findings), indent=2, ensure_ascii=True) + "\n"


def write_baseline(findings: Iterable[Finding], path: str | os.PathLike) -> None:
    """Write the baseline atomically; only a regular file or a new one (postfix_diag.safewrite)."""
    from .safewrite import write_text

    write_text(path, dump_baseline(findings), "baseline")


def parse_baseline(data, name: str = "<baseline>") -> Baseline:
    """Validate a decoded baseline document; InputError (one line) if it is not one."""

    def bad(why: str) -> InputError:
        return InputError(f"{name}: not a postfix-diag baseline file ({why})")

    if not isinstance(data, dict):
        raise bad("expected a JSON object")
    if data.get("version") != BASELINE_VERSION:
        raise bad(f"unsupported version {data.get('version')!r}, expected {BASELINE_VERSION}")
    if data.get("tool", TOOL) != TOOL:
        raise bad(f"written by {data.get('tool')!r}")
    items = data.get("findings")
    if not isinstance(items, list):
        raise bad('"findings" must be a list')
    entries: dict[Ident, dict] = {}
    for n, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise bad(f"findings[{n}] needs a string \"id\"")
        key = item.get("key")
        if key is not None and not isinstance(key, str):
            raise bad(f"findings[{n}].key must be a string or null")
        entries[(item["id"], key)] = item
    return Baseline(name, entries)


BASELINE_MAX_BYTES = 16 * 1024 * 1024  # a baseline is a few KB; this is 100,000 findings and more


def load_baseline(path: str | os.PathLike) -> Baseline:
    """Read a baseline file: untrusted JSON (postfix_diag.jsonin: size, depth and number limits),
    then the shape parse_baseline checks. InputError, naming the file, for every problem."""
    from . import jsonin

    name = str(path)
    if not os.path.lexists(path):
        raise InputError(f"{name}: baseline file not found (create it with --write-baseline)")
    if os.path.isdir(path):
        raise InputError(f"{name}: baseline is a directory")
    try:
        data = jsonin.load(path, name, max_bytes=BASELINE_MAX_BYTES)
    except jsonin.JsonInputError as exc:
        raise InputError(f"baseline {exc}") from None
    return parse_baseline(data, name)


# --- evaluation --------------------------------------------------------------------------------

def evaluate(findings: Iterable[Finding], baseline: Baseline | None = None, fail_on: str = DEFAULT_FAIL_ON,
             *, sources: Iterable[str] = (), lines: int = 0, incidents: Iterable[Incident] = (),
             fail_on_ongoing: bool = False) -> CheckResult:
    """Classify each finding: KNOWN (matched by the baseline), FAIL (new and at or above
    ``fail_on``; with ``fail_on_ongoing``, only if one of its incidents is still ongoing at the end
    of the log and at or above ``fail_on``) or NEW (new, not failing)."""
    if fail_on not in SEVERITIES:
        raise InputError(f"--fail-on: unknown severity {fail_on!r} (one of {', '.join(SEVERITIES)})")
    incidents = list(incidents)
    ongoing = {(i.rule, i.key) for i in incidents if i.state == ONGOING and at_least(i.severity, fail_on)}
    ordered = sort_findings(list(findings))
    states = []
    for f in ordered:
        if baseline is not None and f in baseline:
            states.append(KNOWN)
        elif at_least(f.severity, fail_on) and (not fail_on_ongoing or ident(f) in ongoing):
            states.append(FAIL)
        else:
            states.append(NEW)
    ordered_states = sorted(zip(ordered, states, strict=True), key=lambda fs: {FAIL: 0, NEW: 1, KNOWN: 2}[fs[1]])
    return CheckResult([f for f, _ in ordered_states], [s for _, s in ordered_states], fail_on, baseline,
                       list(sources), lines, incidents=incidents, fail_on_ongoing=fail_on_ongoing)


def run_check(paths: list[str] | None, *, baseline: str | os.PathLike | None = None,
              write_baseline_to: str | os.PathLike | None = None, fail_on: str = DEFAULT_FAIL_ON,
              year: int | None = None, progress: Callable[[str], None] | None = None, config=None,
              config_how: str | None = None, preview: bool = False,
              since: float | None = None, until: float | None = None, gaps: dict | None = None,
              fail_on_ongoing: bool = False) -> CheckResult:
    """Analyze ``paths`` (only the lines of [since, until) when given), compare with the
    baseline, optionally record a new one. ``fail_on_ongoing``: fail only on findings with an
    incident still ongoing at the end of the log (see evaluate).

    Rules in preview (rules.base.Rule.preview) run only with ``preview``: a rule that came with
    an upgrade does not fail a CI job until it leaves preview or the job asks for it.

    The comparison uses ``baseline`` when given. With only ``write_baseline_to``, the findings
    just recorded are the baseline, so nothing is new (exit status 0): that is how a baseline
    is started. ``config``: the Postfix configuration the rules use as evidence (a healthy
    server's warnings, such as a chroot copy that differs, stay below error with it). Raises
    InputError for every problem with the input.
    """
    if fail_on not in SEVERITIES:
        raise InputError(f"--fail-on: unknown severity {fail_on!r} (one of {', '.join(SEVERITIES)})")
    from .inputs import resolve

    resolve(list(paths) if paths else [])  # a missing log or baseline fails before the long part
    base = load_baseline(baseline) if baseline is not None else None
    if write_baseline_to is not None:
        from .safewrite import refusal

        why = refusal(write_baseline_to, "baseline")
        if why:
            raise InputError(why)
    from .analyze import analyze

    analysis = analyze(paths, year=year, min_severity="info", progress=progress, config=config,
                       config_how=config_how, preview=preview, since=since, until=until, gaps=gaps)
    if analysis.coverage.total == 0:
        raise InputError("no log lines in the given input (empty file?)")
    from .sniff import no_postfix_lines

    not_postfix = no_postfix_lines(analysis.coverage, analysis.sources)
    if not_postfix:  # a file that is not a Postfix log must not pass a CI gate
        raise InputError(not_postfix)
    written = None
    if write_baseline_to is not None:
        write_baseline(analysis.findings, write_baseline_to)
        written = str(write_baseline_to)
        if base is None:
            base = parse_baseline(baseline_dict(analysis.findings), written)
    result = evaluate(analysis.findings, base, fail_on, sources=analysis.sources, lines=analysis.coverage.total,
                      incidents=analysis.incidents, fail_on_ongoing=fail_on_ongoing)
    result.wrote_baseline = written
    if written is not None:
        result.wrote_entries = len(baseline_dict(analysis.findings)["findings"])
    return result
