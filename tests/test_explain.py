"""explain(ID), catalog(), and the rule metadata every rule must carry."""

from __future__ import annotations

import re

import pytest

from postfix_diag.model import CATEGORIES, SEVERITIES
from postfix_diag.rules import REGISTRY, catalog, explain

PLANNED = """DNS001 DNS002 DNS003 DNS004 DNS005 CHR001 CHR002 CHR003 ERR001 PRC001 CON001 CON002 CON003
DLV001 DLV002 DLV003 DLV004 QUE001 QUE002 SEC001 SEC002 CFG001 CFG002 CFG003 CFG004 CFG005 CFG006
TLS001 TLS002 MLT001 RES001 RES002 PSC001 GEN001 GEN002""".split()


def test_planned_ids_exist():
    """These IDs are fixed: sample_logs/*/expected.json and users' CI baselines use them."""
    assert set(PLANNED) <= set(REGISTRY)


def test_registry_is_ordered_by_id():
    assert list(REGISTRY) == sorted(REGISTRY)


@pytest.mark.parametrize("rid", sorted(REGISTRY))
def test_rule_metadata(rid):
    c = REGISTRY[rid]
    assert re.fullmatch(r"[A-Z]{3}\d{3}", c.id)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", c.name)
    assert c.category in CATEGORIES and c.severity in SEVERITIES
    assert (c.kinds or c.message_kinds or c.wants_messages or c.wants_queue or c.catch_all
            or c.every_line), "rule consumes nothing"
    for attr in ("title", "what", "why", "fix"):
        assert len(getattr(c, attr).strip()) > 10, attr
    assert c.example, "give at least one example log line"
    assert c.remediation, "give concrete remediation steps"
    assert c.references, "name the README sections"
    for p, default, role in c.parameters:
        assert default is not None
        assert re.fullmatch(r"[a-z0-9_]+", p) and role


def test_names_are_unique():
    names = [c.name for c in REGISTRY.values()]
    assert len(names) == len(set(names))


def test_explain_page():
    page = explain("ERR001")
    for text in ("ERR001", "smtpd-error-limit", "error-limit", "warning", "too many errors after",
                 "smtpd_hard_error_limit = 20", "smtpd_soft_error_limit = 10", "smtpd_error_sleep_time = 1s",
                 "TUNING_README"):
        assert text in page, text


def test_explain_accepts_lowercase_id_and_name():
    assert explain("dns002") == explain("DNS002") == explain("client-name-resolution-broken")


@pytest.mark.parametrize("bad", ["XYZ999", "", "DNS"])
def test_explain_unknown_raises_keyerror(bad):
    with pytest.raises(KeyError):
        explain(bad)


def test_catalog():
    cat = catalog()
    assert [c["id"] for c in cat] == list(REGISTRY)
    assert set(cat[0]) == {"id", "name", "category", "severity", "title", "status"}
    assert {c["status"] for c in cat} == {"stable", "preview"}
