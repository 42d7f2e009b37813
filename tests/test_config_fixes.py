"""Safe fixes (postfix_diag.config.fixes) and the remediation checker (postfix_diag.config.safety).

The builders' commands are checked three ways: by the checker, by a real shell (what the shell
passes to postconf), and, when Postfix's postconf is installed, by running them against a copy
of a sample configuration and reading back what postconf wrote."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from postfix_diag import config
from postfix_diag.config import fixes, safety
from postfix_diag.config.shell import quote, split_commands

SAMPLES = Path(__file__).resolve().parents[1] / "sample_logs"
POSTCONF = config.find_postconf()
needs_postconf = pytest.mark.skipif(POSTCONF is None, reason="Postfix's postconf is not installed "
                                    "(apt-get install postfix); the checks without it run above")


def sample(name: str) -> config.Config:
    return config.load([SAMPLES / name / "postconf-n.txt", SAMPLES / name / "master.cf"])


def shell_words(command: str) -> list[str]:
    """What a real sh passes to the command (printf prints each argument on a line)."""
    out = subprocess.run(["sh", "-c", "printf '%s\\n' " + command.split(" ", 1)[1]], capture_output=True,
                         text=True, check=True)
    return out.stdout.splitlines()


# --- quoting ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["mydestination = $myhostname, localhost", "it's", 'say "hi"', "a\\b",
                                   "`date` $(id) ${x}", "tab\there", "!"])
def test_quote_survives_a_real_shell(value):
    assert shell_words("echo " + quote(value)) == [value]
    assert [w.text() for w in split_commands("echo " + quote(value))[0]][1:] == [value]


# --- builders ---------------------------------------------------------------------------------------
def test_add_to_list_keeps_every_current_item():
    cfg = sample("healthy")
    fix = fixes.add_to_list("mydestination", "loop.example.com", cfg)
    assert fix.commands == ("postconf -e 'mydestination = $myhostname, $mydomain, localhost, loop.example.com'",)
    assert fix.current == "$myhostname, $mydomain, localhost" and fix.where.endswith("healthy/postconf-n.txt:13")
    assert fix.summary.startswith("mydestination: $myhostname, $mydomain, localhost (")
    assert shell_words(fix.commands[0])[0] == "-e"
    assert safety.drops(f"`{fix.commands[0]}`", cfg) == []
    again = fixes.add_to_list("mydestination", "localhost", cfg)
    assert again.commands == () and not again


def test_add_to_list_follows_the_separator_in_use():
    cfg = sample("healthy")
    fix = fixes.add_to_list("smtpd_relay_restrictions", "reject_unauth_destination", cfg)
    assert fix.new == "permit_mynetworks permit_sasl_authenticated defer_unauth_destination reject_unauth_destination"


def test_add_to_list_without_config_reads_before_it_writes():
    fix = fixes.add_to_list("mydestination", 'odd"$name', None)
    assert fix.commands == ("postconf mydestination",
                            'postconf -e "mydestination = $(postconf -h mydestination), odd\\"\\$name"')
    assert safety.drops(" ".join(f"`{c}`" for c in fix.commands), sample("healthy")) == []


def test_add_to_list_of_a_host_computed_value_reads_first():
    cfg = config.from_text(("main.cf", "compatibility_level = 3.6\n"))
    fix = fixes.add_to_list("mynetworks", "10.0.0.0/8", cfg)
    assert fix.commands[0] == "postconf mynetworks" and "$(postconf -h mynetworks)" in fix.commands[1]


def test_add_to_a_service_override_without_spaces():
    cfg = sample("config-mistakes")
    fix = fixes.add_to_list("smtpd_sender_restrictions", "reject_unknown_sender_domain", cfg,
                            service=("127.0.0.1:2502", "inet"))
    assert fix.commands == ("postconf -P '127.0.0.1:2502/inet/smtpd_sender_restrictions=check_sender_access,"
                            "hash:/etc/postfix/missing,reject_unknown_sender_domain'",)
    assert safety.drops(f"`{fix.commands[0]}`", cfg) == []


def test_add_to_a_service_value_with_spaces_goes_through_main_cf():
    cfg = config.from_text(("main.cf", "virtual_alias_maps = inline:{ a@x=b@y }\n"),
                           ("master.cf", "sub inet n - y - - smtpd\n"))
    fix = fixes.add_to_list("virtual_alias_maps", "hash:/etc/postfix/v", cfg, service=("sub", "inet"))
    assert fix.commands == ("postconf -e 'sub_virtual_alias_maps = inline:{ a@x=b@y }, hash:/etc/postfix/v'",
                            "postconf -P 'sub/inet/virtual_alias_maps=$sub_virtual_alias_maps'")
    assert safety.check_remediation(" ".join(f"`{c}`" for c in fix.commands), cfg) == []


def test_set_param_names_the_overrides_it_cannot_reach():
    cfg = sample("chroot-sockets")
    fix = fixes.set_param("smtpd_sasl_path", "private/auth", cfg)
    assert fix.commands == ("postconf -e 'smtpd_sasl_path = private/auth'",)
    assert fix.summary == "smtpd_sasl_path: smtpd (default) → private/auth"
    assert len(fix.notes) == 1 and fix.notes[0].startswith("127.0.0.1:submission/inet overrides it")
    eff = fixes.set_effective("smtpd_sasl_path", "private/auth", cfg, ("127.0.0.1:submission", "inet"))
    assert eff.commands == ("postconf -P '127.0.0.1:submission/inet/smtpd_sasl_path=private/auth'",)
    assert eff.current == "/run/dovecot/auth-client"
    with pytest.raises(ValueError, match="would drop"):
        fixes.set_param("mynetworks", "10.0.0.0/8", cfg)


def test_set_service_field_uses_postconf_field_names():
    cfg = sample("process-limit")
    fix = fixes.set_service_field("smtp", "inet", "maxproc", "20", cfg)
    assert fix.commands == ("postconf -F 'smtp/inet/process_limit=20'",)
    assert fix.summary.startswith("smtp/inet process_limit: 2 (") and fix.current == "2"
    none = fixes.set_service_field("submission", "inet", "chroot", "n", sample("chroot-sockets"))
    assert none.commands == () and none.notes == ("services named submission: 127.0.0.1:submission/inet",)
    with pytest.raises(ValueError):
        fixes.set_service_field("smtp", "inet", "command", "smtpd", cfg)


# --- the checker ------------------------------------------------------------------------------------
def kinds(text: str, cfg) -> list[tuple[str, bool]]:
    return [(p.kind, p.drops) for p in safety.check_remediation(text, cfg)]


def test_the_mail_loop_fix_of_issue_12_drops_a_domain():
    cfg = sample("healthy")
    text = "First `postconf -e 'mydestination = $myhostname, localhost.$mydomain, localhost, DOMAIN'`."
    [problem] = safety.check_remediation(text, cfg)
    assert problem.kind == "drops-items" and problem.dropped == ("$mydomain",) and problem.drops
    assert problem.parameter == "mydestination"


@pytest.mark.parametrize("command, expected", [
    # keeps
    ("postconf -e 'mydestination = $myhostname, $mydomain, localhost, x.example'", []),
    ("postconf -e 'mydestination = ${myhostname}, $(mydomain), localhost, x.example'", []),
    ('postconf -e "mydestination = \\$myhostname, \\$mydomain, localhost, x.example"', []),
    ('postconf -e "mydestination = $(postconf -h mydestination), x.example"', []),
    ("postconf mydestination relayhost", []),
    ("postconf -n | grep -n relay", []),
    ("postconf -e 'relayhost = [other.example]:587'", []),  # a one-item value changes, nothing lost
    ("postconf -F 'smtp/inet/process_limit=20'", []),
    ("sudo /usr/sbin/postconf -e 'mynetworks = 127.0.0.0/8, 10.0.0.0/8'", []),
    ("postconf -F '*/*/chroot'", []),  # queries may use patterns
    ("postconf -P 'nosuch/inet/smtpd_sasl_path'", []),
    # the default ${smtpd_client_connection_limit_exceptions:$mynetworks} is $mynetworks here
    ("postconf -e 'smtpd_client_event_limit_exceptions = $mynetworks, 192.0.2.0/24'", []),
    ("postconf -e 'smtpd_client_event_limit_exceptions = 192.0.2.0/24'", [("drops-items", True)]),
    # drops
    ("postconf -e 'mydestination = x.example'", [("drops-items", True)]),
    ('postconf -e "mydestination = $myhostname, $mydomain, localhost, x"', [("shell-expansion", True),
                                                                             ("drops-items", True)]),
    ("postconf -e mynetworks=10.0.0.0/8", [("drops-items", True)]),
    ("postconf mynetworks=10.0.0.0/8", [("drops-items", True)]),  # -e is optional since Postfix 2.8
    ("postconf -e 'maillog_file ='", [("drops-value", True)]),
    ("postconf -X maillog_file", [("removes-value", True)]),
    ("postconf -# mynetworks", [("removes-value", True)]),
    ("postconf -X smtpd_sasl_path", []),  # not set: nothing to remove
    ("postconf -F 'relay/unix/command=smtp'", [("drops-arguments", True)]),
    ("postconf -M 'relay/unix=relay unix - - y - - smtp'", [("drops-arguments", True)]),
    ("postconf -MX relay/unix", [("removes-service", True)]),
    ("postconf -M# relay/unix", [("removes-service", True)]),
    # broken without dropping
    ("postconf -F 'smtp/inet/maxproc=20'", [("invalid", False)]),
    ("postconf -P 'submission/inet/smtpd_sasl_auth_enable=yes'", [("unknown-service", False)]),
    ("postconf -P 'smtp/inet/smtpd_banner=two words'", [("invalid", False)]),
    ("postconf -e 'unterminated", [("unparsable", False)]),
])
def test_checker_cases(command, expected):
    assert kinds(f"`{command}`", sample("healthy")) == expected


def test_checker_per_service_values():
    cfg = sample("chroot-sockets")
    assert kinds("`postconf -PX '127.0.0.1:submission/inet/smtpd_sasl_path'`", cfg) == [("removes-override", True)]
    assert kinds("`postconf -P '127.0.0.1:submission/inet/smtpd_sasl_path=private/auth'`", cfg) == []
    assert kinds("`postconf -e 'smtpd_sasl_path = private/auth'`", cfg) == [("overridden", False)]
    # a per-service list is compared with the value that service uses (main.cf's here)
    assert kinds("`postconf -P '127.0.0.1:submission/inet/smtpd_recipient_restrictions=permit_mynetworks'`",
                 cfg) == [("drops-items", True)]


def test_checker_plays_commands_in_order():
    cfg = sample("healthy")
    text = ("`postconf -e 'mydestination = $myhostname, $mydomain, localhost, a.example'` then "
            "`postconf -e 'mydestination = $myhostname, $mydomain, localhost, b.example'`")
    [p] = safety.check_remediation(text, cfg)
    assert p.dropped == ("a.example",)


def test_checker_without_a_value_to_compare():
    cfg = config.from_text(("main.cf", "compatibility_level = 3.6\n"))
    assert kinds("`postconf -e 'mynetworks = 10.0.0.0/8'`", cfg) == [("replaces-unknown", True)]
    assert kinds('`postconf -e "mynetworks = $(postconf -h mynetworks), 10.0.0.0/8"`', cfg) == []
    assert safety.commands_in("no commands here") == [] and safety.drops("plain text", cfg) == []


# --- with the real postconf --------------------------------------------------------------------------
def copy_config(tmp_path, name):
    d = tmp_path / name
    d.mkdir()
    shutil.copy(SAMPLES / name / "postconf-n.txt", d / "main.cf")
    shutil.copy(SAMPLES / name / "master.cf", d / "master.cf")
    for f in d.iterdir():  # Postfix pauses on a main.cf changed within the last second
        os.utime(f, (f.stat().st_atime - 60, f.stat().st_mtime - 60))
    return d


def run_fix(fix: fixes.Fix, directory: Path) -> None:
    env = {**os.environ, "MAIL_CONFIG": str(directory),
           "PATH": f"{Path(POSTCONF).parent}:{os.environ.get('PATH', '')}"}
    for command in fix.commands:
        subprocess.run(["sh", "-c", command], env=env, check=True, capture_output=True, timeout=60)


@needs_postconf
@pytest.mark.parametrize("with_config", [True, False])
def test_printed_commands_keep_the_value_in_a_real_postconf(tmp_path, with_config):
    d = copy_config(tmp_path, "domain-classes")
    cfg = config.load(d) if with_config else None
    run_fix(fixes.add_to_list("mydestination", "loop.example.com", cfg), d)
    after = config.load(d)
    assert after.value("mydestination") == "$myhostname, $mydomain, localhost, lists.capture.example, loop.example.com"


@needs_postconf
def test_printed_service_commands_in_a_real_postconf(tmp_path):
    d = copy_config(tmp_path, "chroot-sockets")
    cfg = config.load(d)
    run_fix(fixes.set_effective("smtpd_sasl_path", "private/auth", cfg, ("127.0.0.1:submission", "inet")), d)
    run_fix(fixes.set_service_field("smtp", "inet", "maxproc", "20", cfg), d)
    run_fix(fixes.add_to_list("smtpd_recipient_restrictions", "reject_unknown_sender_domain", cfg,
                              service=("127.0.0.1:submission", "inet")), d)
    after = config.load(d)
    sub = after.service("127.0.0.1:submission", "inet")
    assert sub.overrides["smtpd_sasl_path"].value == "private/auth"
    assert sub.overrides["syslog_name"].value == "postfix/submission"  # the other overrides stay
    assert after.service("smtp", "inet").process_limit == 20
    assert after.items("smtpd_recipient_restrictions", ("127.0.0.1:submission", "inet")) == [
        "check_policy_service", "unix:/run/policyd.sock", "permit_mynetworks", "reject_unauth_destination",
        "reject_unknown_sender_domain"]
