"""The reader against Postfix's own postconf, when it is installed (CI installs postfix).

Each sample scenario's postconf-n.txt and master.cf are copied into a temporary config directory;
``postconf -c DIR -x -h NAME`` (Postfix's own expansion) must equal `Config.expanded(NAME)`, and
``postconf -c DIR -F``/``-P`` the columns and overrides read from master.cf. Without postconf
these tests skip; everything else in tests/test_config*.py stands without them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from postfix_diag import config
from postfix_diag.config import defaults

SAMPLES = Path(__file__).resolve().parents[1] / "sample_logs"
POSTCONF = config.find_postconf()
pytestmark = pytest.mark.skipif(POSTCONF is None, reason="Postfix's postconf is not installed "
                                "(apt-get install postfix): the comparison with Postfix did not run")

# Parameters the rules read; the host-computed ones (myhostname, mydomain, mynetworks) are set in
# every sample main.cf, so postconf's answer does not depend on this machine either.
NAMES = """mynetworks mynetworks_style mydestination myhostname mydomain myorigin relayhost transport_maps
relay_transport default_transport content_filter smtpd_milters non_smtpd_milters milter_default_action
smtpd_sasl_type smtpd_sasl_path smtpd_sasl_auth_enable smtp_sasl_auth_enable smtp_sasl_password_maps
smtp_sasl_security_options smtpd_tls_cert_file smtpd_tls_key_file smtpd_tls_chain_files
smtpd_tls_security_level smtp_tls_security_level alias_maps alias_database virtual_alias_maps
virtual_alias_domains virtual_mailbox_domains relay_domains default_process_limit smtpd_soft_error_limit
smtpd_hard_error_limit smtpd_client_connection_count_limit smtpd_client_connection_rate_limit
smtpd_client_event_limit_exceptions maillog_file queue_directory inet_interfaces inet_protocols
smtpd_client_restrictions smtpd_helo_restrictions smtpd_sender_restrictions smtpd_recipient_restrictions
smtpd_relay_restrictions maximal_queue_lifetime bounce_queue_lifetime smtpd_banner local_recipient_maps
smtpd_relay_before_recipient_restrictions smtputf8_enable compatibility_level syslog_name
postscreen_access_list postscreen_dnsbl_sites smtp_host_lookup""".split()


def aged(directory: Path) -> Path:
    """Date the files back: Postfix re-reads a main.cf changed within the last second, after a
    pause (dict_load_file), which would add ~1.5 s to every call on a fresh copy."""
    for f in directory.iterdir():
        os.utime(f, (f.stat().st_atime - 60, f.stat().st_mtime - 60))
    return directory


def postconf(directory: Path, *args: str) -> str:
    return subprocess.run([POSTCONF, "-c", str(directory), *args], capture_output=True, text=True,
                          check=True, timeout=60).stdout


def config_dir(tmp_path: Path, scenario: str) -> Path:
    d = tmp_path / scenario
    d.mkdir()
    shutil.copy(SAMPLES / scenario / "postconf-n.txt", d / "main.cf")
    shutil.copy(SAMPLES / scenario / "master.cf", d / "master.cf")
    return aged(d)


def scenarios():
    return sorted(p.name for p in SAMPLES.iterdir() if (p / "postconf-n.txt").is_file())


def squash(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("scenario", scenarios())
def test_expansion_equals_postconf(tmp_path, scenario):
    d = config_dir(tmp_path, scenario)
    ours = config.load(d)
    theirs = postconf(d, "-x", "-h", *NAMES).splitlines()
    assert len(theirs) == len(NAMES)
    got = {n: squash(ours.expanded(n) or "") for n in NAMES}
    assert got == {n: squash(v) for n, v in zip(NAMES, theirs, strict=True)}


@pytest.mark.parametrize("scenario", ["healthy", "chroot-sockets", "config-mistakes", "postscreen", "process-limit"])
def test_master_cf_equals_postconf_F_and_P(tmp_path, scenario):
    d = config_dir(tmp_path, scenario)
    ours = config.load(d)
    columns = {}
    for line in postconf(d, "-F").splitlines():
        key, _, value = line.partition(" = ")
        service, type_, field = key.rsplit("/", 2)
        columns.setdefault((service, type_), {})[field] = value
    assert set(columns) == set(ours.services)
    for (service, type_), fields in columns.items():
        svc = ours.service(service, type_)
        assert [svc.private, svc.unpriv, svc.chroot, svc.wakeup, svc.maxproc] == [
            fields["private"], fields["unprivileged"], fields["chroot"], fields["wakeup"], fields["process_limit"]]
        assert " ".join([svc.command, *svc.args]) == squash(fields["command"])
    overrides = {}
    for line in postconf(d, "-P").splitlines():
        key, _, value = line.partition(" = ")
        service, type_, name = key.rsplit("/", 2)
        overrides[(service, type_, name)] = value
    assert overrides == {(s.name, s.type, n): o.value for s in ours.services.values() for n, o in s.overrides.items()}


def test_expression_forms_equal_postconf(tmp_path):
    forms = ["$a", "${a}", "$(a)", "$$a", "${a?set}", "${e?set}", "${a:unset}", "${e:unset}",
             "${a?{ spaced }}", "${a?{yes}:{no}}", "${e?{yes}:{no}}", "${{$n} == {10} ? {eq} : {ne}}",
             "${{$n} < {9} ? {lt} : {ge}}", "${{abc} < {abd} ? {lt} : {ge}}", "${a?${b}}",
             "${{$compatibility_level} <level {3.10} ? {old} : {new}}", "${undefined_name}"]
    d = tmp_path / "forms"
    d.mkdir()
    (d / "master.cf").write_text("")
    # user-defined parameters f0, f1, ... hold the forms; smtpd_banner, which postconf knows,
    # refers to all of them, so one `postconf -x -h smtpd_banner` expands every form
    (d / "main.cf").write_text("compatibility_level = 3.6\na = A\nb = $a\ne =\nn = 10\n" + "".join(
        f"f{i} = {f}\n" for i, f in enumerate(forms)) + "smtpd_banner = " + "|".join(
        f"$f{i}" for i in range(len(forms))) + "|\n")
    theirs = postconf(aged(d), "-x", "-h", "smtpd_banner").rstrip("\n").split("|")
    ours = config.load(d).expanded("smtpd_banner").split("|")
    assert dict(zip(forms, ours, strict=False)) == dict(zip(forms, theirs, strict=False))
    assert len(ours) == len(theirs) == len(forms) + 1


def test_shipped_defaults_equal_this_postconf(tmp_path):
    (tmp_path / "main.cf").write_text("")  # an empty config: only the built-in defaults
    (tmp_path / "master.cf").write_text("")
    aged(tmp_path)
    if not postconf(tmp_path, "-d", "-h", "mail_version").startswith("3.7."):
        pytest.skip("the installed Postfix is not 3.7: defaults.cf describes 3.7")
    theirs = {}
    for line in postconf(tmp_path, "-d").splitlines():
        name, _, value = line.partition("=")
        theirs[name.strip()] = value.strip()
    for name in defaults.HOST_DEPENDENT:
        theirs.pop(name, None)
    assert defaults.builtin() == theirs
