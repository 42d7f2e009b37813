"""JUnit XML for `check --format junit` (Jenkins, GitLab CI test reports).

One <testsuite> per finding category, one <testcase> per finding: a <failure> for a new finding
at or above --fail-on, <skipped> for a finding the baseline already knows, a plain (passing)
test case for a new finding below the threshold. Without findings, one passing test case, so
that CI systems that insist on at least one test are satisfied.

Log content is attacker-controlled: the document is built with ElementTree (which escapes
markup), and characters XML 1.0 cannot carry at all (NUL and the other C0 controls, lone
surrogates, U+FFFE/U+FFFF) are shown as visible ``\\xNN``/``\\uNNNN`` text instead.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..model import FAIL, KNOWN, CheckResult
from .common import details, label
from .escape import terminal

# Everything outside the XML 1.0 Char production.
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _visible(match: re.Match) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def xml_text(text) -> str:
    """One line of text safe for an XML 1.0 attribute or element: terminal-escaped (controls,
    newlines included, and bidi overrides made visible), then anything else XML cannot
    represent (lone surrogates, U+FFFE, U+FFFF) made visible too."""
    return _XML_ILLEGAL.sub(_visible, terminal(text))


def _suite(root: ET.Element, name: str, result: CheckResult) -> ET.Element:
    suite = ET.SubElement(root, "testsuite", name=xml_text(name))
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="fail-on", value=result.fail_on)
    if result.baseline is not None:
        ET.SubElement(props, "property", name="baseline", value=xml_text(result.baseline.path))
    return suite


def render(result: CheckResult) -> str:
    root = ET.Element("testsuites", name="postfix-diag check")
    suites: dict[str, ET.Element] = {}
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    counts: dict[str, dict[str, int]] = {}
    for f, state in result.items():
        category = f.category or "other"
        if category not in suites:
            suites[category] = _suite(root, f"postfix-diag.{category}", result)
            counts[category] = {"tests": 0, "failures": 0, "skipped": 0}
        case = ET.SubElement(suites[category], "testcase", classname=xml_text(f"postfix-diag.{category}"),
                             name=xml_text(label(f)), time="0")
        body = "\n".join(xml_text(line) for line in [f"{f.severity} {label(f)}", *details(f)])
        counts[category]["tests"] += 1
        if state == FAIL:
            failure = ET.SubElement(case, "failure", type=f.severity,
                                    message=xml_text(f"new {f.severity} finding: {label(f)} ({f.count} time(s))"))
            failure.text = body
            counts[category]["failures"] += 1
        elif state == KNOWN:
            ET.SubElement(case, "skipped", message=xml_text(f"known: matched by baseline {result.baseline.path}"))
            ET.SubElement(case, "system-out").text = body
            counts[category]["skipped"] += 1
        else:
            ET.SubElement(case, "system-out").text = body
    if not suites:
        suite = _suite(root, "postfix-diag", result)
        counts["postfix-diag"] = {"tests": 1, "failures": 0, "skipped": 0}
        suites["postfix-diag"] = suite
        case = ET.SubElement(suite, "testcase", classname="postfix-diag", name="no findings", time="0")
        ET.SubElement(case, "system-out").text = xml_text(
            f"{len(result.sources)} file(s), {result.lines} line(s): no findings")
    for category, suite in suites.items():
        c = counts[category]
        suite.set("tests", str(c["tests"]))
        suite.set("failures", str(c["failures"]))
        suite.set("errors", "0")
        suite.set("skipped", str(c["skipped"]))
        suite.set("time", "0")
        for k in totals:
            totals[k] += c[k]
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failures"]))
    root.set("errors", "0")
    root.set("skipped", str(totals["skipped"]))
    root.set("time", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
