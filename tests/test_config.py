"""postfix_diag.config: the captured sample configurations, the syntax of main.cf and master.cf,
expansion, defaults, services, mynetworks, lookup tables, the JSON summary and discovery."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from postfix_diag import config
from postfix_diag.config import defaults
from postfix_diag.config.syntax import MAIN, MASTER, split_quoted

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"
FIXTURES = Path(__file__).with_name("fixtures") / "config"


def sample(name: str) -> config.Config:
    return config.load([SAMPLES / name / "postconf-n.txt", SAMPLES / name / "master.cf"])


def scenarios():
    return sorted(d.name for d in SAMPLES.iterdir() if (d / "postconf-n.txt").is_file())


# --- every captured scenario ------------------------------------------------------------------------
@pytest.mark.parametrize("name", scenarios())
def test_every_sample_config_reads_cleanly(name):
    cfg = sample(name)
    assert [(Path(s.path).name, s.kind) for s in cfg.sources] == [("postconf-n.txt", MAIN), ("master.cf", MASTER)]
    assert cfg.problems == []
    assert cfg.value("compatibility_level") == "3.6"
    # Debian's master.cf: the standard delivery services, chrooted, no process limit of their own
    smtp = cfg.service("smtp", "unix")
    assert smtp.command == "smtp" and smtp.chrooted is True and smtp.process_limit == 100
    local = cfg.service("local", "unix")
    assert local.chrooted is False and local.effective["unpriv"] is False
    assert cfg.service("qmgr", "unix").process_limit == 1 and cfg.service("qmgr", "unix").effective["wakeup"] == 300
    # commented-out examples are not services (the SASL scenarios enable submission for real)
    active = {line.split()[0] for line in (SAMPLES / name / "master.cf").read_text().splitlines()
              if line.strip() and not line[0].isspace() and not line.startswith("#")}
    assert (cfg.service("submission", "inet") is None) == ("submission" not in active)
    assert cfg.service("628", "inet") is None
    assert cfg.expanded("mydestination").startswith("mail.capture.example, capture.example, localhost")
    assert cfg.service_param("relay", "unix", "syslog_name") == "postfix/relay"
    json.dumps(cfg.as_dict())


def test_relayhost_of_each_scenario():
    got = {name: sample(name).expanded("relayhost") for name in ("healthy", "relay-down", "chroot-broken",
                                                                  "config-mistakes", "bounce-storm")}
    assert got == {"healthy": "[127.0.0.1]:2526", "relay-down": "[127.0.0.1]:2599",
                   "chroot-broken": "[127.0.0.1]:ssmtp", "config-mistakes": "[127.0.0.1]:25", "bounce-storm": ""}
    assert sample("relay-down").where("relayhost").endswith("relay-down/postconf-n.txt:21")


def test_process_limit_scenario():
    cfg = sample("process-limit")
    smtpd = cfg.service("smtp", "inet")
    assert (smtpd.maxproc, smtpd.process_limit, smtpd.command) == ("2", 2, "smtpd")
    assert cfg.items("inet_interfaces") == ["127.0.0.1", "192.0.2.1"]
    assert sample("healthy").service("smtp", "inet").process_limit == 100  # "-": default_process_limit


def test_chroot_sockets_override_beats_main_cf():
    cfg = sample("chroot-sockets")
    sub = cfg.service("127.0.0.1:submission", "inet")
    assert sub.chrooted is True
    assert sub.overrides["smtpd_sasl_path"].value == "/run/dovecot/auth-client"
    assert sub.overrides["smtpd_sasl_path"].where.endswith("chroot-sockets/master.cf:138")
    assert cfg.service_param("127.0.0.1:submission", "inet", "smtpd_sasl_path") == "/run/dovecot/auth-client"
    assert cfg.service_param("smtp", "inet", "smtpd_sasl_path") == "smtpd"  # Postfix's default
    assert [s.key for s in cfg.overridden_by("smtpd_sasl_path")] == ["127.0.0.1:submission/inet"]
    assert cfg.find_services(name="submission") == [sub]
    # the policy endpoint after check_policy_service is no lookup table
    assert cfg.maps("smtpd_recipient_restrictions") == []


def test_config_mistakes_services_and_maps():
    cfg = sample("config-mistakes")
    assert [t.text for t in cfg.maps("smtpd_sender_restrictions")] == ["hash:/etc/postfix/stale_access"]
    missing = cfg.maps("smtpd_sender_restrictions", ("127.0.0.1:2502", "inet"))
    assert [(t.type, t.name) for t in missing] == [("hash", "/etc/postfix/missing")]
    assert cfg.service_param("127.0.0.1:2503", "inet", "smtpd_milters") == "inet:127.0.0.1:8899"
    assert cfg.service_param("127.0.0.1:2503", "inet", "milter_default_action") == "tempfail"
    assert cfg.service("127.0.0.1:2504", "inet").chrooted is False
    assert cfg.expanded("smtpd_tls_cert_file") == "/etc/postfix/missing.pem"
    assert [t.text for t in cfg.maps("alias_database")] == ["hash:/etc/aliases"]


def test_relay_abuse_mynetworks_and_rate_limit():
    cfg = sample("relay-abuse")
    assert cfg.in_mynetworks("127.0.0.1") is True
    assert cfg.in_mynetworks("127.0.0.3") is False
    assert sample("healthy").in_mynetworks("127.0.0.3") is True  # 127.0.0.0/8 there
    assert cfg.expanded("smtpd_client_connection_rate_limit") == "3"
    assert cfg.is_set("smtpd_client_event_limit_exceptions") and cfg.items("smtpd_client_event_limit_exceptions") == []
    # elsewhere the default exempts mynetworks
    assert sample("healthy").expanded("smtpd_client_event_limit_exceptions") == "127.0.0.0/8"


def test_other_scenarios_facts():
    ps = sample("postscreen")
    assert ps.service("smtp", "inet").command == "postscreen" and ps.service("smtp", "inet").process_limit == 1
    assert ps.service("smtpd", "pass").command == "smtpd" and ps.service("dnsblog", "unix").process_limit == 0
    assert ps.items("postscreen_dnsbl_sites") == ["bl.capture.example*2"]
    el = sample("error-limit")
    assert (el.expanded("smtpd_soft_error_limit"), el.expanded("smtpd_hard_error_limit")) == ("2", "5")
    assert sample("healthy").expanded("smtpd_hard_error_limit") == "20"  # ${stress?{1}:{20}}
    assert [t.name for t in sample("bounce-storm").maps("transport_maps")] == ["/etc/postfix/pfd_bounce_transport"]
    dc = sample("domain-classes")
    assert "lists.capture.example" in dc.items("mydestination") and dc.items("virtual_alias_domains") == [
        "lists.capture.example"]
    assert len(sample("tls-handshake").items("smtpd_tls_chain_files")) == 2
    sb = sample("sasl-bruteforce")
    assert (sb.expanded("smtpd_sasl_type"), sb.expanded("smtpd_sasl_path")) == ("dovecot", "private/auth")
    assert sample("queue-space").expanded("queue_minfree") == "1000000000000000"
    assert sample("outbound-dns").expanded("smtp_host_lookup") == "dns"
    h = sample("healthy")
    assert h.expanded("maillog_file") == "/var/log/postfix-capture.log"
    assert h.expanded("queue_directory") == "/var/spool/postfix" and h.where("queue_directory") == "default"
    assert h.expanded("maximal_queue_lifetime") == "5d" and h.expanded("bounce_queue_lifetime") == "5d"


def test_content_filter_and_multi_incident_scenarios():
    cf = sample("content-filter")
    assert cf.expanded("content_filter") == "scan:[127.0.0.1]:10024"
    scan = cf.service("scan", "unix")
    assert (scan.command, scan.process_limit, scan.chrooted) == ("smtp", 10, False)
    assert cf.service_param("scan", "unix", "smtp_generic_maps") == ""
    back = ("127.0.0.1:10025", "inet")
    assert cf.service_param(*back, "content_filter") == ""  # the re-injection port filters nothing
    assert cf.expanded("content_filter", back) == "" and cf.in_mynetworks("127.0.0.9", back) is True
    assert cf.items("receive_override_options", back) == [
        "no_unknown_recipient_checks", "no_header_body_checks", "no_milters"]
    mi = sample("multi-incident")
    assert mi.service("smtp", "inet").process_limit == 4
    assert mi.expanded("smtpd_milters") == "inet:127.0.0.1:8891" and mi.where("milter_default_action") != "default"
    assert mi.in_mynetworks("127.0.0.3") is False


def test_pipe_services_keep_their_arguments():
    cfg = sample("healthy")
    maildrop = cfg.service("maildrop", "unix")
    assert maildrop.command == "pipe"
    assert maildrop.args == ("flags=DRXhu", "user=vmail", "argv=/usr/bin/maildrop", "-d", "${recipient}")
    assert maildrop.overrides == {}
    assert cfg.service("tlsmgr", "unix").effective["wakeup_if_used"] is True
    assert cfg.service("postlog", "unix-dgram").command == "postlogd"


# --- postconf -M / -F / -P output (captured) ----------------------------------------------------
def _services(cfg):
    return {s.key: (s.private, s.unpriv, s.chroot, s.wakeup, s.maxproc, s.command, s.args,
                    {n: o.value for n, o in s.overrides.items()}) for s in cfg.services.values()}


def test_postconf_M_and_F_P_output_give_the_master_cf_services():
    master = config.load(SAMPLES / "config-mistakes" / "master.cf")
    m = config.load(FIXTURES / "config-mistakes.postconf-M.txt")
    f = config.load(FIXTURES / "config-mistakes.postconf-F.txt")
    assert m.sources[0].kind == MASTER and f.sources[0].kind == "postconf-FP"
    assert _services(m) == _services(master)
    assert _services(f) == _services(master)
    p = config.load(FIXTURES / "config-mistakes.postconf-P.txt")
    assert p.service("127.0.0.1:2504", "inet").partial
    assert p.service("127.0.0.1:2504", "inet").overrides["smtpd_sasl_path"].value == "private/auth"
    assert p.service("127.0.0.1:2504", "inet").chrooted is None  # -P says nothing of the columns


# --- main.cf syntax ---------------------------------------------------------------------------------
def test_continuation_lines_comments_and_overrides():
    text = ("# comment\n"
            "mydestination = a,\n"
            "# a comment inside the logical line\n"
            "\n"
            "    b,   c\n"
            "  # indented comment\n"
            "relayhost = [x]:25   \n"
            "relayhost = [y]:25\n")
    cfg = config.from_text(("main.cf", text))
    assert cfg.value("mydestination") == "a,    b,   c"  # readllines() joins the raw lines
    assert cfg.items("mydestination") == ["a", "b", "c"]
    assert cfg.value("relayhost") == "[y]:25"
    assert [(d.value, d.line) for d in cfg.definitions["relayhost"]] == [("[x]:25", 7), ("[y]:25", 8)]
    assert [str(p) for p in cfg.problems] == [
        "main.cf:8: overriding earlier entry: relayhost=[y]:25 (earlier: main.cf:7)"]
    assert cfg.definition("mydestination").line == 2


def test_whitespace_line_before_any_text_and_bad_lines_are_reported_and_reading_goes_on():
    cfg = config.from_text(("main.cf", "  stray = 1\nfoo bar\nbad-name = 1\nmyhostname = ok\n"))
    assert [str(p) for p in cfg.problems] == [
        "main.cf:1: logical line must not start with whitespace: 'stray = 1'",
        "main.cf:2: missing '=' after parameter name: 'foo bar'",
        "main.cf:3: bad parameter name: 'bad-name = 1'",
    ]
    assert cfg.value("myhostname") == "ok"


def test_file_kind_comes_from_content_not_name(tmp_path):
    (tmp_path / "master.cf").write_text("myhostname = h.example\n")
    (tmp_path / "main.cf").write_text("smtp inet n - y - - smtpd\n")
    cfg = config.load([tmp_path / "master.cf", tmp_path / "main.cf"])
    assert [s.kind for s in cfg.sources] == [MAIN, MASTER]
    assert cfg.value("myhostname") == "h.example" and cfg.service("smtp", "inet") is not None


def test_directory_means_its_main_cf_and_master_cf(tmp_path):
    (tmp_path / "main.cf").write_text((SAMPLES / "healthy" / "postconf-n.txt").read_text())
    (tmp_path / "master.cf").write_text((SAMPLES / "process-limit" / "master.cf").read_text())
    cfg = config.load(tmp_path)
    assert [Path(s.path).name for s in cfg.sources] == ["main.cf", "master.cf"]
    assert cfg.service("smtp", "inet").process_limit == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    cfg = config.load(empty)
    assert [str(p) for p in cfg.problems] == [f"{empty}: directory has neither main.cf nor master.cf"]


def test_missing_and_unrecognized_files_are_problems_not_exceptions(tmp_path):
    junk = tmp_path / "junk"
    junk.write_text("hello world\nthis is no config\n")
    cfg = config.load([tmp_path / "nope.cf", junk])
    assert [str(p) for p in cfg.problems] == [
        f"{tmp_path / 'nope.cf'}: no such file",
        f"{junk}:1: not a Postfix configuration file: no line has main.cf or master.cf syntax "
        "(first line 'hello world')"]
    with pytest.raises(config.ConfigError, match="nope.cf: no such file"):
        config.load([tmp_path / "nope.cf"], strict=True)


def test_a_fifo_or_device_is_not_read(tmp_path):
    fifo = tmp_path / "main.cf"
    os.mkfifo(fifo)
    cfg = config.load([fifo, "/dev/zero"])  # neither may block or run forever
    assert [str(p) for p in cfg.problems] == [f"{fifo}: not a regular file", "/dev/zero: not a regular file"]
    assert [s.kind for s in cfg.sources] == ["unreadable", "unreadable"]


# --- master.cf syntax -------------------------------------------------------------------------------
def test_override_forms_and_options():
    text = ("submission inet n - y - - smtpd\n"
            "  -o syslog_name=postfix/submission\n"
            "  -osmtpd_tls_security_level=encrypt\n"
            "  -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }\n"
            "  -v\n"
            "  -o smtpd_tls_security_level=may\n"
            "pipe1 unix - n n - - pipe flags=R user=x argv=/bin/cmd { a b } -o notanoverride=1\n")
    cfg = config.from_text(("master.cf", text))
    assert cfg.problems == []
    sub = cfg.service("submission", "inet")
    assert {n: o.value for n, o in sub.overrides.items()} == {
        "syslog_name": "postfix/submission", "smtpd_tls_security_level": "may",  # the last -o wins
        "smtpd_client_restrictions": "permit_sasl_authenticated, reject"}
    assert cfg.service_param("submission", "inet", "smtpd_client_restrictions") == "permit_sasl_authenticated, reject"
    pipe = cfg.service("pipe1", "unix")
    assert pipe.args == ("flags=R", "user=x", "argv=/bin/cmd", "a b", "-o", "notanoverride=1")
    assert pipe.overrides == {} and pipe.process_limit is None  # "-" needs default_process_limit: no main.cf


def test_master_cf_errors_name_the_field_and_line():
    text = ("smtp inet n - maybe - - smtpd\n"
            "smtp inet x - y - - smtpd\n"
            "smtp tcp n - y - - smtpd\n"
            "smtp inet n - y - -\n"
            "good unix - - n - 3 smtp\n"
            "good unix - - n - 4 smtp\n")
    cfg = config.from_text(("master.cf", text))
    assert [str(p) for p in cfg.problems] == [
        "master.cf:1: bad master.cf field chroot 'maybe' (y, n or -): 'smtp inet n - maybe - - smtpd'",
        "master.cf:2: bad master.cf field private 'x' (y, n or -): 'smtp inet x - y - - smtpd'",
        "master.cf:3: bad master.cf service type: 'smtp tcp n - y - - smtpd'",
        "master.cf:4: a master.cf entry needs 8 fields (service type private unpriv chroot wakeup maxproc "
        "command): 'smtp inet n - y - -'",
        "master.cf:6: duplicate master.cf entry good/unix: only the last one is used (earlier: master.cf:5)",
    ]
    assert cfg.service("good", "unix").process_limit == 4


def test_chroot_default_follows_compatibility_level():
    master = ("master.cf", "smtp unix - - - - - smtp\n")
    assert config.from_text(("main.cf", "compatibility_level = 3.6\n"), master).service("smtp", "unix").chrooted is False
    assert config.from_text(("main.cf", "myhostname = x\n"), master).service("smtp", "unix").chrooted is True
    assert config.from_text(master).service("smtp", "unix").chrooted is None  # no main.cf: unknown
    limited = config.from_text(("main.cf", "default_process_limit = 7\n"), master)
    assert limited.service("smtp", "unix").process_limit == 7


# --- expansion and defaults -------------------------------------------------------------------------
@pytest.mark.parametrize("value, expected", [
    ("$a", "A"), ("${a}", "A"), ("$(a)", "A"), ("$$a", "$a"), ("x$a.y", "xA.y"),
    ("${a?set}", "set"), ("${e?set}", ""), ("${a:unset}", ""), ("${e:unset}", "unset"),
    ("${a?{ spaced value }}", " spaced value "),  # postconf -x keeps the inner spaces too ("${e:{b}}", "b"),
    ("${a?{yes}:{no}}", "yes"), ("${e?{yes}:{no}}", "no"), ("${undefined?{yes}:{no}}", "no"),
    ("${{$n} == {10} ? {eq} : {ne}}", "eq"), ("${{$n} < {9} ? {lt} : {ge}}", "ge"),  # numeric
    ("${{abc} < {abd} ? {lt} : {ge}}", "lt"), ("${{3.6} <level {3.10} ? {old} : {new}}", "old"),
    ("$undefined", ""), ("${a}$b", "AA"), ("${a?${b}}", "A"),
])
def test_expansion_forms(value, expected):
    cfg = config.from_text(("main.cf", f"a = A\nb = $a\ne =\nn = 10\nv = {value}\n"))
    assert cfg.expanded("v") == expected


def test_expansion_errors_are_problems_with_file_line():
    cfg = config.from_text(("main.cf", "a = $b\nb = ${a}\nc = ${unterminated\nd = ${x y}\n"))
    assert cfg.expanded("a") is None and cfg.expanded("c") is None and cfg.expanded("d") is None
    assert [str(p) for p in cfg.problems] == [
        "main.cf:1: cannot expand a: unreasonable macro call nesting: 'b' (a $name cycle?)",
        "main.cf:3: cannot expand c: truncated macro reference: '${unterminated'",
        "main.cf:4: cannot expand d: attribute name syntax error at: 'x y'",
    ]


def test_defaults_depend_on_compatibility_level():
    old = config.from_text(("main.cf", "myhostname = mx.example\n"))
    new = config.from_text(("main.cf", "compatibility_level = 3.6\n"))
    assert old.expanded("mynetworks_style") == "subnet" and new.expanded("mynetworks_style") == "host"
    assert old.expanded("smtputf8_enable") == "no" and new.expanded("smtputf8_enable") == "yes"
    assert old.expanded("relay_domains") == "$myhostname, localhost.$mydomain, localhost".replace(
        "$myhostname", "mx.example")
    assert new.expanded("relay_domains") == ""
    assert new.expanded("smtpd_relay_restrictions") == \
        "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination"


def test_host_computed_defaults_stay_unknown():
    cfg = config.from_text(("main.cf", "compatibility_level = 3.6\n"))
    e = cfg.expansion("mydestination")
    assert e.text == "$myhostname, localhost.$mydomain, localhost" and e.unknown == {"myhostname", "mydomain"}
    assert cfg.value("myhostname") is None and cfg.where("myhostname") == "unknown"
    assert cfg.expanded("myorigin") == "$myhostname"
    known = config.from_text(("main.cf", "compatibility_level = 3.6\n"), host_values={"myhostname": "h.ex"})
    assert known.expanded("myorigin") == "h.ex" and known.where("myhostname") == "postconf (host)"


def test_shipped_defaults_file():
    d = defaults.builtin()
    assert defaults.version().startswith("3.7.")
    assert not defaults.HOST_DEPENDENT & set(d)
    assert d["default_process_limit"] == "100" and d["smtpd_sasl_path"] == "smtpd"
    assert d["alias_maps"] == "hash:/etc/aliases, nis:mail.aliases"
    assert len(d) > 800


# --- mynetworks -------------------------------------------------------------------------------------
@pytest.mark.parametrize("mynetworks, ip, expected", [
    ("127.0.0.0/8 [::1]/128", "::1", True),
    ("127.0.0.0/8 [::1]/128", "::ffff:127.0.0.5", True),
    ("127.0.0.0/8, [2001:db8::]/32", "2001:db8::5", True),
    ("2001:db8::/32", "[2001:db8::5]", True),
    ("127.0.0.1/32", "127.0.0.3", False),
    ("10.1.2.3", "10.1.2.3", True),
    ("!127.0.0.2 127.0.0.0/8", "127.0.0.2", False),
    ("!127.0.0.2 127.0.0.0/8", "127.0.0.3", True),
    ("hash:/etc/postfix/networks 10.0.0.0/8", "10.1.1.1", True),  # a table can only add a match
    ("hash:/etc/postfix/networks 10.0.0.0/8", "192.168.1.1", None),
    ("!cidr:/etc/postfix/x 10.0.0.0/8", "10.1.1.1", None),
    ("/etc/postfix/network_file", "10.1.1.1", None),
    ("127.0.0.0/8", "unknown", None),
])
def test_in_mynetworks(mynetworks, ip, expected):
    cfg = config.from_text(("main.cf", f"mynetworks = {mynetworks}\n"))
    assert cfg.in_mynetworks(ip) is expected


def test_in_mynetworks_default_knows_only_loopback():
    host = config.from_text(("main.cf", "compatibility_level = 3.6\n"))
    assert host.in_mynetworks("127.0.0.1") is True and host.in_mynetworks("10.0.0.1") is None
    subnet = config.from_text(("main.cf", "mynetworks_style = subnet\n"))
    assert subnet.in_mynetworks("127.0.0.9") is True
    assert config.from_text(("master.cf", "smtp inet n - y - - smtpd\n")).in_mynetworks("127.0.0.1") is None
    override = config.from_text(("main.cf", "mynetworks = 127.0.0.0/8\n"),
                                ("master.cf", "sub inet n - y - - smtpd -o mynetworks=10.0.0.0/8\n"))
    assert override.in_mynetworks("10.0.0.1") is False
    assert override.in_mynetworks("10.0.0.1", service=("sub", "inet")) is True


# --- tables -----------------------------------------------------------------------------------------
def test_maps_forms():
    cfg = config.from_text(("main.cf", "alias_maps = hash:/etc/aliases, proxy:unix:passwd.byname\n"
                                       "virtual_alias_maps = inline:{ a@x=b@y, c@x=d@y } pcre:${config_directory}/v.pcre\n"
                                       "smtpd_milters = unix:/run/milter.sock\n"
                                       "smtpd_client_restrictions = check_client_access cidr:/etc/postfix/c.cidr,"
                                       " reject_rbl_client zen.example\n"))
    assert [(t.type, t.name, t.proxied) for t in cfg.maps("alias_maps")] == [
        ("hash", "/etc/aliases", False), ("unix", "passwd.byname", True)]
    assert [t.text for t in cfg.maps("virtual_alias_maps")] == [
        "inline:{ a@x=b@y, c@x=d@y }", "pcre:/etc/postfix/v.pcre"]
    assert cfg.maps("smtpd_milters") == []
    assert [t.text for t in cfg.maps("smtpd_client_restrictions")] == ["cidr:/etc/postfix/c.cidr"]


def test_split_quoted_keeps_braces():
    assert split_quoted("a, b  c,{x y, z} inline:{ a=b, c=d },e") == [
        "a", "b", "c", "{x y, z}", "inline:{ a=b, c=d }", "e"]
    assert split_quoted(" , ") == [] and split_quoted("x { y") == ["x", "{ y"]


# --- report -----------------------------------------------------------------------------------------
def test_as_dict_reports_sources_and_the_values_used():
    cfg = sample("relay-down")
    assert cfg.as_dict()["parameters_used"] == {}
    cfg.expanded("relayhost")
    cfg.in_mynetworks("127.0.0.3")
    cfg.service("smtp", "unix")
    d = json.loads(json.dumps(cfg.as_dict()))
    assert [s["kind"] for s in d["sources"]] == [MAIN, MASTER]
    assert d["parameters_used"]["relayhost"] == {
        "value": "[127.0.0.1]:2599", "where": str(SAMPLES / "relay-down" / "postconf-n.txt") + ":21"}
    assert d["parameters_used"]["mynetworks"]["value"] == "127.0.0.0/8"
    assert list(d["services_used"]) == ["smtp/unix"]
    assert d["services_used"]["smtp/unix"]["effective"]["chroot"] is True
    assert "problems" not in d
    # an explicit list of names reports only those
    assert list(cfg.as_dict(["mydestination"])["parameters_used"]) == ["mydestination"]
    assert cfg.as_dict(["mydestination"])["parameters_used"]["mydestination"]["expanded"] == \
        "mail.capture.example, capture.example, localhost"


# --- discovery --------------------------------------------------------------------------------------
def test_discovery_can_be_turned_off(monkeypatch, tmp_path):
    assert config.discover(enabled=False).config is None
    assert "--no-config" in config.discover(enabled=False).how
    monkeypatch.setenv(config.ENV_OFF, "1")
    d = config.discover(config_dir=str(tmp_path), postconf=None)
    assert d.config is None and config.ENV_OFF in d.how


def test_discovery_reads_the_directory_without_postconf(monkeypatch, tmp_path):
    monkeypatch.delenv(config.ENV_OFF, raising=False)
    (tmp_path / "main.cf").write_text("relayhost = [relay.example]:587\n")
    (tmp_path / "master.cf").write_text("smtp inet n - y - - smtpd\n")
    d = config.discover(config_dir=str(tmp_path), postconf=None)
    assert d.how == f"read {tmp_path} (postconf is not on PATH)"
    assert d.config.expanded("relayhost") == "[relay.example]:587"
    d = config.discover(config_dir=str(tmp_path / "absent"), postconf=None)
    assert d.config is None and "does not exist" in d.how


def _fake_postconf(tmp_path, body: str) -> str:
    """An executable standing in for postconf (to drive discover's use of a command)."""
    path = tmp_path / "bin" / "postconf"
    path.parent.mkdir(exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def test_discovery_with_postconf_reads_its_config_directory(monkeypatch, tmp_path):
    monkeypatch.delenv(config.ENV_OFF, raising=False)
    conf = tmp_path / "etc"
    conf.mkdir()
    (conf / "main.cf").write_text("compatibility_level = 3.6\n")
    (conf / "master.cf").write_text("smtp inet n - y - - smtpd\n")
    fake = _fake_postconf(tmp_path, f"""case "$*" in
  "-h config_directory") echo {conf};;
  *"-h mydomain myhostname mynetworks") printf 'example.net\\nmx.example.net\\n127.0.0.0/8 [::1]/128\\n';;
  *) exit 1;;
esac
""")
    d = config.discover(postconf=fake)
    assert d.how.startswith(f"read {conf}/main.cf and {conf}/master.cf (config_directory from {fake})")
    assert "host defaults mydomain, myhostname, mynetworks" in d.how
    assert d.config.expanded("mydestination") == "mx.example.net, localhost.example.net, localhost"
    assert d.config.in_mynetworks("127.0.0.1") is True


def test_discovery_falls_back_to_postconf_output(monkeypatch, tmp_path):
    monkeypatch.delenv(config.ENV_OFF, raising=False)
    nowhere = tmp_path / "nowhere"
    fake = _fake_postconf(tmp_path, f"""case "$*" in
  "-h config_directory") echo {nowhere};;
  *" -n") echo 'relayhost = [r.example]:25';;
  *" -M") echo 'smtp inet n - y - 7 smtpd';;
  *) exit 1;;
esac
""")
    d = config.discover(postconf=fake)
    assert d.how.startswith(f"ran postconf -c {nowhere} -n and postconf -c {nowhere} -M")
    assert [(s.path, s.origin) for s in d.config.sources] == [
        (f"postconf -c {nowhere} -n", "command"), (f"postconf -c {nowhere} -M", "command")]
    assert d.config.expanded("relayhost") == "[r.example]:25"
    assert d.config.service("smtp", "inet").process_limit == 7


def test_discovery_survives_a_hanging_postconf(monkeypatch, tmp_path):
    monkeypatch.delenv(config.ENV_OFF, raising=False)
    (tmp_path / "main.cf").write_text("myhostname = h.example\n")
    fake = _fake_postconf(tmp_path, "exec sleep 30\n")
    d = config.discover(postconf=fake, config_dir=str(tmp_path), timeout=0.5)
    assert d.config.value("myhostname") == "h.example"
    assert "did not finish within 0.5 s" in d.how
