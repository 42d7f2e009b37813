"""Parser: syslog envelopes, tags, queue ids, years, and one synthetic line per event kind.

Every line here is written by hand from Postfix's message templates
(../shared/reference/postfix-message-templates.tsv); none is copied from the corpus.
"""

from __future__ import annotations

import calendar
import os

import pytest

from postfix_diag.parse import Parser, YearGuesser


def utc(*args) -> float:
    return float(calendar.timegm((*args, 0, 0, 0, 0, 0)[:6]))


CONNECT = "connect from mail.example.com[192.0.2.1]"
T_2024 = utc(2024, 1, 5, 12, 0, 0)


# --- envelopes --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "line, fmt, ts",
    [
        # classic syslog: space-padded, zero-padded (Postfix's own maillog_file), unpadded day
        (f"Jan  5 12:00:00 mx postfix/smtpd[123]: {CONNECT}", "classic", T_2024),
        (f"Jan 05 12:00:00 mx postfix/smtpd[123]: {CONNECT}", "classic", T_2024),
        (f"Jan 5 12:00:00 mx postfix/smtpd[123]: {CONNECT}", "classic", T_2024),
        (f"Jan  5 12:00:00.250 mx postfix/smtpd[123]: {CONNECT}", "classic", T_2024 + 0.25),
        # RFC 3339 (rsyslog RSYSLOG_FileFormat), with and without fraction, offset or Z
        (f"2024-01-05T12:00:00Z mx postfix/smtpd[123]: {CONNECT}", "rfc3339", T_2024),
        (f"2024-01-05T12:00:00+01:00 mx postfix/smtpd[123]: {CONNECT}", "rfc3339", T_2024),
        (f"2024-01-05T12:00:00.123456+01:00 mx postfix/smtpd[123]: {CONNECT}", "rfc3339-fraction",
         T_2024 + 0.123456),
        (f"2024-01-05T12:00:00.150Z mx postfix/smtpd[123]: {CONNECT}", "rfc3339-fraction", T_2024 + 0.15),
        (f"2024-01-05T12:00:00-05:00 mx postfix/smtpd[123]: {CONNECT}", "rfc3339", T_2024),
        # journalctl -o short-iso / short-iso-precise
        (f"2024-01-05T12:00:00+0100 mx postfix/smtpd[123]: {CONNECT}", "journal-short-iso", T_2024),
        (f"2024-01-05T12:00:00.123456+0100 mx postfix/smtpd[123]: {CONNECT}", "journal-short-iso-precise",
         T_2024 + 0.123456),
        # ISO with a space, and without offset
        (f"2024-01-05 12:00:00 mx postfix/smtpd[123]: {CONNECT}", "iso-space", T_2024),
        (f"2024-01-05T12:00:00 mx postfix/smtpd[123]: {CONNECT}", "iso-local", T_2024),
        # BusyBox/OpenBSD syslogd: facility.priority before the tag
        (f"Jan  5 12:00:00 mx mail.info postfix/smtpd[123]: {CONNECT}", "classic", T_2024),
        (f"2024-01-05T12:00:00Z mx mail.warn postfix/smtpd[123]: {CONNECT}", "rfc3339", T_2024),
        # docker logs -t / kubectl --timestamps: RFC 3339 prefix before a classic line
        (f"2024-01-05T12:00:00.496826493Z Jan  5 12:00:00 mx postfix/smtpd[123]: {CONNECT}", "container",
         T_2024 + 0.496826493),
        (f"2024-01-05T12:00:00+02:00 Jan  5 12:00:00 mx postfix/smtpd[123]: {CONNECT}", "container", T_2024),
        # RFC 5424, with nil and with structured data, and a <PRI> in front of a classic line
        (f"<22>1 2024-01-05T12:00:00.003Z mx postfix/smtpd 123 - - {CONNECT}", "rfc5424", T_2024 + 0.003),
        (f'<22>1 2024-01-05T12:00:00Z mx postfix/smtpd 123 ID47 [origin x="1"] {CONNECT}', "rfc5424", T_2024),
        (f"<22>Jan  5 12:00:00 mx postfix/smtpd[123]: {CONNECT}", "classic", T_2024),
    ],
)
def test_envelope_formats(parser, line, fmt, ts):
    ev = parser.parse_line(line, "<t>", 1)
    assert ev.fmt == fmt
    assert ev.kind == "connect"
    assert ev.ts == pytest.approx(ts, abs=1e-6)
    assert ev.host == "mx"
    assert (ev.instance, ev.service, ev.program, ev.pid) == ("postfix", "smtpd", "smtpd", 123)
    assert ev.f == {"client_host": "mail.example.com", "client_ip": "192.0.2.1"}
    assert ev.line == line and ev.file == "<t>" and ev.lineno == 1


def test_rfc5424_without_pid(parser):
    ev = parser.parse_line(f"<22>1 2024-01-05T12:00:00Z mx postfix/smtpd - - - {CONNECT}")
    assert (ev.fmt, ev.kind, ev.pid) == ("rfc5424", "connect", None)


def test_no_timestamp_partial_lines(parser):
    ev = parser.parse_line("postfix/postfix-script: fatal: the Postfix mail system is not running")
    assert (ev.fmt, ev.ts, ev.program, ev.pid, ev.severity) == ("no-timestamp", None, "postfix-script", None, "fatal")
    ev = parser.parse_line("mx postfix/smtp[9]: 1A2B3C4D5E: removed")
    assert (ev.fmt, ev.host, ev.kind, ev.qid) == ("no-timestamp", "mx", "removed", "1A2B3C4D5E")


@pytest.mark.parametrize(
    "line",
    [
        "lalala Jan  5 12:00:00 mx postfix/qmgr[1]: 1A2B3C4D5E: removed",  # garbage before the stamp
        "9898789",
        "Jan  5 12:00:00",
        "",
        "Foo  5 12:00:00 mx postfix/qmgr[1]: 1A2B3C4D5E: removed",  # not a month
    ],
)
def test_no_envelope(parser, line):
    ev = parser.parse_line(line)
    assert ev.kind == "unrecognized"
    assert ev.f == {"reason": "no syslog envelope"}


# --- tags --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "tag, instance, service, program, pid",
    [
        ("postfix/smtpd[42]", "postfix", "smtpd", "smtpd", 42),
        ("postfix/submission/smtpd[42]", "postfix", "submission", "smtpd", 42),
        ("postfix/submissions/smtpd[42]", "postfix", "submissions", "smtpd", 42),
        ("postfix/smtps/smtpd[42]", "postfix", "smtps", "smtpd", 42),
        ("postfix-in/smtpd[42]", "postfix-in", "smtpd", "smtpd", 42),
        ("postfix-10.20.30.40/smtpd[42]", "postfix-10.20.30.40", "smtpd", "smtpd", 42),
        ("postfix-smo/submission/smtpd[42]", "postfix-smo", "submission", "smtpd", 42),
        ("postfix/10025/smtpd[42]", "postfix", "10025", "smtpd", 42),
        ("postfix/smtpd", "postfix", "smtpd", "smtpd", None),
    ],
)
def test_tags_smtpd(parser, syslog, tag, instance, service, program, pid):
    ev = parser.parse_line(syslog(CONNECT, tag=tag, pid=None))
    assert ev.kind == "connect"
    assert (ev.instance, ev.service, ev.program, ev.pid) == (instance, service, program, pid)


@pytest.mark.parametrize(
    "tag, instance, service",
    [("postfix/amavis/smtp[7]", "postfix", "amavis"), ("postfix-out/smtp[7]", "postfix-out", "smtp"),
     ("postfix/relay/smtp[7]", "postfix", "relay"), ("postfix/smtp[7]", "postfix", "smtp")],
)
def test_tags_smtp_delivery(parser, syslog, tag, instance, service):
    body = ("1A2B3C4D5E: to=<u@example.org>, relay=mx.example.org[192.0.2.9]:25, delay=1.5, "
            "delays=0.1/0.2/0.3/0.9, dsn=2.0.0, status=sent (250 2.0.0 Ok)")
    ev = parser.parse_line(syslog(body, tag=tag, pid=None))
    assert (ev.kind, ev.instance, ev.service, ev.program, ev.qid) == ("delivery", instance, service, "smtp",
                                                                       "1A2B3C4D5E")


def test_foreign_program(parser):
    ev = parser.parse_line("Jan  5 12:00:00 mx dovecot[12]: imap-login: Login: user=<u>")
    assert (ev.kind, ev.program, ev.pid) == ("foreign", "dovecot", 12)


def test_nul_prefix_is_dropped(parser, syslog):
    ev = parser.parse_line("\x00" * 390 + syslog(CONNECT))
    assert ev.kind == "connect"


# --- queue ids -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "qid",
    ["0EA5228A", "B4C5A1100935", "3E29030F8637E", "ED06590130AA1C9D6D862",  # short hex, 8..21 digits
     "4PbC4x469Jz3tBr", "3mPVKl0Mhjz7sXv", "44JCRG5tYPzCqt2"],  # enable_long_queue_ids
)
def test_queue_ids(parse, qid):
    ev = parse(f"{qid}: removed", "qmgr")
    assert (ev.kind, ev.qid) == ("removed", qid)
    ev = parse(f"{qid}: client=unknown[192.0.2.1]")
    assert (ev.kind, ev.qid) == ("client", qid)


def test_noqueue(parse):
    ev = parse("NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 554 5.7.1 <a@example.org>: Relay access "
               "denied; from=<b@example.net> to=<a@example.org> proto=ESMTP helo=<x>")
    assert (ev.kind, ev.qid) == ("reject", "NOQUEUE")


# --- years ----------------------------------------------------------------------------------------------
def test_explicit_year_and_rollover():
    lines = [
        "Dec 31 23:59:59 mx postfix/qmgr[1]: 1A2B3C4D5E: removed",
        "Jan  1 00:00:01 mx postfix/qmgr[1]: 1A2B3C4D5F: removed",
        "Jan  1 00:00:02 mx postfix/qmgr[1]: 1A2B3C4D60: removed",
        "Feb  1 00:00:00 mx postfix/qmgr[1]: 1A2B3C4D61: removed",
    ]
    evs = list(Parser().parse_lines(lines, "<t>", year=2023))
    assert [e.ts for e in evs] == [utc(2023, 12, 31, 23, 59, 59), utc(2024, 1, 1, 0, 0, 1),
                                   utc(2024, 1, 1, 0, 0, 2), utc(2024, 2, 1)]
    # the same stamp again later in the same year keeps its year (cache must not leak across years)
    evs = list(Parser().parse_lines([lines[1], lines[0], lines[1]], "<t>", year=2023))
    assert [e.ts for e in evs] == [utc(2023, 1, 1, 0, 0, 1), utc(2023, 12, 31, 23, 59, 59),
                                   utc(2024, 1, 1, 0, 0, 1)]


def test_year_from_parser_default(syslog):
    ev = Parser(year=2019).parse_line(syslog("1A2B3C4D5E: removed", "qmgr", stamp="Mar  3 10:00:00"))
    assert ev.ts == utc(2019, 3, 3, 10)


def test_year_from_mtime(tmp_path):
    from postfix_diag.inputs import resolve

    log = tmp_path / "mail.log"
    log.write_text("Nov 30 10:00:00 mx postfix/qmgr[1]: 1A2B3C4D5E: removed\n"
                   "Jan  2 10:00:00 mx postfix/qmgr[1]: 1A2B3C4D5F: removed\n")
    mtime = utc(2021, 1, 3, 12)  # the file was last written on 2021-01-03
    os.utime(log, (mtime, mtime))
    parser = Parser()
    evs = list(parser.parse_source(resolve([str(log)])[0]))
    assert [e.ts for e in evs] == [utc(2020, 11, 30, 10), utc(2021, 1, 2, 10)]
    assert "modification time" in parser.assumptions[str(log)]


def test_year_guesser_direct():
    g = YearGuesser(None, utc(2022, 6, 1))
    assert g.epoch("Jun  1 00:00:00") == utc(2022, 6, 1)
    assert g.epoch("Jun  3 00:00:00") == utc(2021, 6, 3)  # more than a day in the future: last year
    g.epoch("Feb 30 00:00:00")  # an impossible date is not a crash
    assert g.epoch("Xyz 30 00:00:00") is None
    assert YearGuesser(2020, None).epoch("Feb 29 12:00:00") == utc(2020, 2, 29, 12)


# --- one synthetic line per event kind -------------------------------------------------------------------
def test_connect_disconnect(parse):
    ev = parse("connect from unknown[2001:db8::1]:51234")
    assert (ev.kind, ev.f) == ("connect", {"client_host": "unknown", "client_ip": "2001:db8::1",
                                           "client_port": 51234})
    ev = parse("disconnect from mail.example.com[192.0.2.1] ehlo=1 mail=1 rcpt=0/1 data=0/1 quit=1 commands=3/5")
    assert ev.kind == "disconnect"
    assert ev.f["client_ip"] == "192.0.2.1"
    assert ev.f["stats"] == "ehlo=1 mail=1 rcpt=0/1 data=0/1 quit=1 commands=3/5"


def test_client_with_sasl(parse):
    ev = parse("1A2B3C4D5E: client=mail.example.com[192.0.2.1], sasl_method=PLAIN, sasl_username=alice")
    assert (ev.kind, ev.qid) == ("client", "1A2B3C4D5E")
    assert ev.f == {"client_host": "mail.example.com", "client_ip": "192.0.2.1", "sasl_method": "PLAIN",
                    "sasl_username": "alice"}
    assert ev.client == "mail.example.com[192.0.2.1]"


def test_message_id(parse):
    ev = parse("1A2B3C4D5E: message-id=<20240101.abc@example.org>", "cleanup")
    assert (ev.kind, ev.qid, ev.f["message_id"]) == ("message_id", "1A2B3C4D5E", "20240101.abc@example.org")
    ev = parse("1A2B3C4D5E: resent-message-id=<r@example.org>", "cleanup")
    assert (ev.kind, ev.f["resent"], ev.f["message_id"]) == ("message_id", "resent-", "r@example.org")


def test_qmgr_queued(parse):
    ev = parse("1A2B3C4D5E: from=<alice@example.org>, size=2048, nrcpt=3 (queue active)", "qmgr")
    assert (ev.kind, ev.qid) == ("qmgr_queued", "1A2B3C4D5E")
    assert ev.f == {"from": "alice@example.org", "size": 2048, "nrcpt": 3, "queue": "active"}
    ev = parse("1A2B3C4D5E: from=<>, size=2048, nrcpt=1 (queue active)", "qmgr")
    assert ev.f["from"] == ""


def test_delivery(parse):
    ev = parse("1A2B3C4D5E: to=<bob@example.net>, orig_to=<b@example.org>, relay=mx.example.net[192.0.2.25]:25, "
               "conn_use=2, delay=3.4, delays=0.1/0.02/1.2/2.1, dsn=4.7.1, status=deferred (host "
               "mx.example.net[192.0.2.25] said: 450 4.7.1 Try again later (in reply to RCPT TO command))", "smtp")
    assert (ev.kind, ev.qid) == ("delivery", "1A2B3C4D5E")
    assert ev.f == {
        "to": "bob@example.net", "orig_to": "b@example.org", "relay": "mx.example.net[192.0.2.25]:25",
        "conn_use": 2, "delay": 3.4, "delays": "0.1/0.02/1.2/2.1", "dsn": "4.7.1", "status": "deferred",
        "reason": "host mx.example.net[192.0.2.25] said: 450 4.7.1 Try again later (in reply to RCPT TO command)",
    }
    ev = parse("1A2B3C4D5E: to=<bob@example.org>, relay=local, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, "
               "status=sent (delivered to mailbox)", "local")
    assert (ev.kind, ev.f["relay"], ev.f["status"], ev.f["reason"]) == ("delivery", "local", "sent",
                                                                        "delivered to mailbox")
    # Postfix 2.2-era line without delays=/dsn=, and an address without brackets
    ev = parse("1A2B3C4D5E: to=bob@example.org, relay=none, delay=423, status=bounced (unknown user)", "smtp")
    assert (ev.kind, ev.f["to"], ev.f["delay"], ev.f["status"]) == ("delivery", "bob@example.org", 423.0, "bounced")
    assert "dsn" not in ev.f


def test_removed_expired(parse):
    assert parse("1A2B3C4D5E: removed", "qmgr").kind == "removed"
    ev = parse("1A2B3C4D5E: from=<alice@example.org>, status=expired, returned to sender", "qmgr")
    assert (ev.kind, ev.f) == ("expired", {"from": "alice@example.org", "status": "expired"})
    ev = parse("1A2B3C4D5E: from=<>, status=force-expired, returned to sender", "qmgr")
    assert ev.f["status"] == "force-expired"


@pytest.mark.parametrize(
    "action, kind",
    [("reject", "reject"), ("reject_warning", "reject_warning"), ("hold", "hold"), ("discard", "discard"),
     ("redirect", "redirect"), ("filter", "access"), ("warn", "access")],
)
def test_smtpd_access_decisions(parse, action, kind):
    ev = parse(f"NOQUEUE: {action}: RCPT from unknown[192.0.2.7]: 550 5.1.1 <bob@example.org>: Recipient address "
               "rejected: User unknown in local recipient table; from=<spam@example.net> to=<bob@example.org> "
               "proto=ESMTP helo=<spam.example.net>")
    assert (ev.kind, ev.qid) == (kind, "NOQUEUE")
    assert ev.f == {
        "action": action, "stage": "RCPT", "client_host": "unknown", "client_ip": "192.0.2.7", "code": 550,
        "dsn": "5.1.1", "reason": "<bob@example.org>: Recipient address rejected: User unknown in local "
                                  "recipient table",
        "from": "spam@example.net", "to": "bob@example.org", "proto": "ESMTP", "helo": "spam.example.net",
    }


def test_parser_captures_only_the_fields_asked_for():
    """Parser(fields=...): events of the named kinds keep those fields, others none; the event
    kind, queue id and access action come out as with every field; typos are refused."""
    lean = Parser(fields={"reject": ("stage", "code"), "qmgr_queued": ("size",)})
    ev = lean.parse_line("Mar  1 10:00:00 mx postfix/smtpd[1]: NOQUEUE: hold: RCPT from unknown[192.0.2.7]: "
                         "450 4.7.1 <x@example.org>: Recipient address rejected: wait; from=<a@example.net> "
                         "to=<x@example.org> proto=ESMTP helo=<h>")
    assert (ev.kind, ev.qid, ev.f) == ("hold", "NOQUEUE", {"action": "hold", "stage": "RCPT", "code": 450})
    ev = lean.parse_line("Mar  1 10:00:02 mx postfix/qmgr[2]: AAAA1: from=<a@example.net>, size=1000, nrcpt=2 "
                         "(queue active)")
    assert (ev.kind, ev.qid, ev.f) == ("qmgr_queued", "AAAA1", {"size": 1000})
    ev = lean.parse_line("Mar  1 10:00:00 mx postfix/smtpd[1]: connect from a.example[192.0.2.1]")
    assert (ev.kind, ev.f) == ("connect", {})
    with pytest.raises(ValueError, match="no grammar rule makes events of kind 'delivered'"):
        Parser(fields={"delivered": ("to",)})
    with pytest.raises(ValueError, match="have no field recipient"):
        Parser(fields={"delivery": ("to", "recipient")})


def test_reject_variants(parse):
    # RBL reply: the reason stops at the first ';', the rest is kept
    ev = parse("NOQUEUE: reject: RCPT from bad.example.net[192.0.2.8]: 554 5.7.1 Service unavailable; Client "
               "host [192.0.2.8] blocked using zen.spamhaus.org; from=<a@example.net> to=<b@example.org> "
               "proto=ESMTP helo=<bad>")
    assert (ev.kind, ev.f["reason"], ev.f["code"]) == ("reject", "Service unavailable", 554)
    # CONNECT stage, no from/to
    ev = parse("NOQUEUE: reject: CONNECT from unknown[192.0.2.9]: 554 5.7.1 <unknown[192.0.2.9]>: Client host "
               "rejected: Access denied; proto=SMTP")
    assert (ev.kind, ev.f["stage"], ev.f["proto"]) == ("reject", "CONNECT", "SMTP")
    # a reply without enhanced status code, and a line cut before the ';'
    ev = parse("NOQUEUE: reject: MAIL from localhost[127.0.0.1]: 452 Insufficient system storage")
    assert (ev.kind, ev.f["code"], ev.f["reason"]) == ("reject", 452, "Insufficient system storage")
    assert "dsn" not in ev.f
    # with a queue id (after DATA), milter reject
    ev = parse("1A2B3C4D5E: milter-reject: END-OF-MESSAGE from a.example.net[192.0.2.3]: 5.7.1 Spam; "
               "from=<a@example.net> to=<b@example.org> proto=ESMTP helo=<a.example.net>", "cleanup")
    assert (ev.kind, ev.qid, ev.f["action"], ev.f["dsn"]) == ("reject", "1A2B3C4D5E", "milter-reject", "5.7.1")
    # cleanup header_checks, also for locally submitted mail ("from local")
    ev = parse("1A2B3C4D5E: hold: header Subject: win money from a.example.net[192.0.2.3]; from=<a@example.net> "
               "to=<b@example.org> proto=ESMTP helo=<a.example.net>: 5.7.1 held for review", "cleanup")
    assert (ev.kind, ev.f["stage"], ev.f["data"], ev.f["reason"]) == ("hold", "header", "Subject: win money",
                                                                      "held for review")
    ev = parse("1A2B3C4D5E: warning: header Subject: hello from local; from=<root@example.org> "
               "to=<bob@example.org>", "cleanup")
    assert (ev.kind, ev.f["action"], ev.f["from"]) == ("access", "warning", "root@example.org")


def test_postscreen_reject_rcpt(parse):
    ev = parse("NOQUEUE: reject: RCPT from [192.0.2.4]:4711: 550 5.7.1 Service unavailable; client [192.0.2.4] "
               "blocked using zen.spamhaus.org; from=<a@example.net>, to=<b@example.org>, proto=ESMTP, helo=<x>",
               "postscreen")
    assert (ev.kind, ev.f["client_ip"], ev.f["client_port"], ev.f["to"], ev.f["helo"]) == (
        "reject", "192.0.2.4", 4711, "b@example.org", "x")


def test_bounce_notification(parse):
    ev = parse("1A2B3C4D5E: sender non-delivery notification: 6F7A8B9C0D", "bounce")
    assert (ev.kind, ev.qid, ev.f) == ("bounce_notice", "1A2B3C4D5E", {
        "notice": "sender non-delivery notification", "new_qid": "6F7A8B9C0D"})
    ev = parse("1A2B3C4D5E: sender delay notification: 6F7A8B9C0D", "bounce")
    assert ev.f["notice"] == "sender delay notification"


@pytest.mark.parametrize(
    "body, kind, stage",
    [
        ("too many errors after RCPT from unknown[192.0.2.5]", "error_limit", "RCPT"),
        ("lost connection after CONNECT from unknown[192.0.2.5]", "lost_connection", "CONNECT"),
        ("NOQUEUE: lost connection after EHLO from unknown[192.0.2.5]", "lost_connection", "EHLO"),
        ("lost connection after DATA (0 bytes) from unknown[192.0.2.5]", "lost_connection", "DATA"),
        ("timeout after END-OF-MESSAGE from unknown[192.0.2.5]", "timeout", "END-OF-MESSAGE"),
        ("timeout after DATA (approximately 4096 bytes) from unknown[192.0.2.5]", "timeout", "DATA"),
        ("improper command pipelining after EHLO from unknown[192.0.2.5]: MAIL FROM:<a@b>\\r\\n",
         "pipelining", "EHLO"),
        ("improper command pipelining after NOOP from unknown[192.0.2.5]", "pipelining", "NOOP"),
    ],
)
def test_session_end_events(parse, body, kind, stage):
    ev = parse(body)
    assert (ev.kind, ev.f["stage"], ev.f["client_ip"], ev.f["client_host"]) == (kind, stage, "192.0.2.5", "unknown")
    if "bytes" in body:
        assert ev.f["stage_bytes"] in (0, 4096)


@pytest.mark.parametrize(
    "body, fields",
    [
        ("CONNECT from [192.0.2.6]:5000 to [198.51.100.1]:25",
         {"verdict": "CONNECT", "client_ip": "192.0.2.6", "client_port": 5000, "server_ip": "198.51.100.1",
          "server_port": 25}),
        ("PASS NEW [192.0.2.6]:5000", {"verdict": "PASS NEW", "client_ip": "192.0.2.6", "client_port": 5000}),
        ("PASS OLD [2001:db8::6]:5000", {"verdict": "PASS OLD", "client_ip": "2001:db8::6", "client_port": 5000}),
        ("PREGREET 11 after 0.21 from [192.0.2.6]:5000: EHLO x\\r\\n",
         {"verdict": "PREGREET", "count": 11, "after": "0.21", "client_ip": "192.0.2.6", "client_port": 5000,
          "data": "EHLO x\\r\\n"}),
        ("HANGUP after 1.2 from [192.0.2.6]:5000 in tests before SMTP handshake",
         {"verdict": "HANGUP", "after": "1.2", "client_ip": "192.0.2.6", "client_port": 5000,
          "stage": "tests before SMTP handshake"}),
        ("DNSBL rank 3 for [192.0.2.6]:5000", {"verdict": "DNSBL", "rank": 3, "client_ip": "192.0.2.6",
                                              "client_port": 5000}),
        ("DISCONNECT [192.0.2.6]:5000", {"verdict": "DISCONNECT", "client_ip": "192.0.2.6", "client_port": 5000}),
        ("WHITELISTED [192.0.2.6]:5000", {"verdict": "WHITELISTED", "client_ip": "192.0.2.6", "client_port": 5000}),
        ("DENYLISTED [192.0.2.6]:5000", {"verdict": "DENYLISTED", "client_ip": "192.0.2.6", "client_port": 5000}),
        ("COMMAND PIPELINING from [192.0.2.6]:5000 after EHLO: QUIT\\r\\n",
         {"verdict": "COMMAND PIPELINING", "client_ip": "192.0.2.6", "client_port": 5000, "after": "EHLO",
          "data": "QUIT\\r\\n"}),
        ("BARE NEWLINE from [192.0.2.6]:5000 after DATA",
         {"verdict": "BARE NEWLINE", "client_ip": "192.0.2.6", "client_port": 5000, "after": "DATA"}),
    ],
)
def test_postscreen_verdicts(parse, body, fields):
    ev = parse(body, "postscreen")
    assert (ev.kind, ev.f) == ("postscreen", fields)


def test_dnsblog(parse):
    ev = parse("addr 192.0.2.6 listed by domain zen.spamhaus.org as 127.0.0.4", "dnsblog")
    assert (ev.kind, ev.f) == ("dnsbl_listed", {"client_ip": "192.0.2.6", "dnsbl": "zen.spamhaus.org",
                                                "result": "127.0.0.4"})


def test_anvil(parse):
    ev = parse("statistics: max connection rate 12/60s for (smtpd:192.0.2.6) at Jan  5 12:00:00", "anvil")
    assert (ev.kind, ev.f) == ("anvil_stats", {"metric": "connection rate", "value": "12/60s",
                                               "key": "smtpd:192.0.2.6", "at": "Jan  5 12:00:00"})
    ev = parse("statistics: max cache size 3 at Jan  5 12:00:00", "anvil")
    assert (ev.kind, ev.f["metric"], ev.f["value"]) == ("anvil_stats", "cache size", "3")


def test_tls_established(parse):
    ev = parse("Anonymous TLS connection established from mail.example.com[192.0.2.1]: TLSv1.3 with cipher "
               "TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits)")
    assert ev.kind == "tls_established"
    f = ev.f
    assert (f["trust"], f["direction"], f["peer_host"], f["peer_ip"], f["protocol"], f["cipher"], f["bits"]) == (
        "Anonymous", "from", "mail.example.com", "192.0.2.1", "TLSv1.3", "TLS_AES_256_GCM_SHA384", "256/256")
    ev = parse("Verified TLS connection established to mx.example.net[192.0.2.25]:25: TLSv1.2 with cipher "
               "ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)", "smtp")
    assert (ev.kind, ev.f["trust"], ev.f["direction"], ev.f["peer_port"]) == ("tls_established", "Verified", "to", 25)


def test_sasl_failures(parse):
    ev = parse("warning: unknown[192.0.2.5]: SASL LOGIN authentication failed: UGFzc3dvcmQ6")
    assert (ev.kind, ev.severity) == ("sasl_failure", "warning")
    assert ev.f == {"client_host": "unknown", "client_ip": "192.0.2.5", "sasl_method": "LOGIN",
                    "reason": "UGFzc3dvcmQ6"}
    ev = parse("warning: unknown[192.0.2.5]:4242: SASL PLAIN authentication failed:", tag="postfix/submission/smtpd")
    assert (ev.kind, ev.f["client_port"], ev.service) == ("sasl_failure", 4242, "submission")
    assert "reason" not in ev.f
    ev = parse("warning: host.example.net[192.0.2.5]: SASL login authentication failed: authentication failure")
    assert (ev.kind, ev.f["sasl_method"]) == ("sasl_failure", "login")


def test_rate_limit_warning(parse):
    ev = parse("warning: Connection rate limit exceeded: 31 from spam.example.net[192.0.2.5] for service smtp")
    assert (ev.kind, ev.f["count"], ev.f["client_ip"], ev.f["service_name"]) == ("rate_limit", 31, "192.0.2.5",
                                                                                "smtp")


def test_master_process_limit(parse):
    ev = parse('warning: service "smtp" (25) has reached its process limit "100": new clients may experience '
               "noticeable delays", "master")
    assert (ev.kind, ev.severity, ev.f) == ("process_limit", "warning", {"service_name": "smtp", "endpoint": "25",
                                                                         "limit": 100})


@pytest.mark.parametrize("severity", ["warning", "error", "fatal", "panic"])
def test_generic_severities(parse, severity):
    ev = parse(f"{severity}: something nobody wrote a rule for: 42", "qmgr")
    assert (ev.kind, ev.severity, ev.text) == (severity, severity, "something nobody wrote a rule for: 42")


def test_unrecognized_info_line(parse):
    ev = parse("an informational line nobody wrote a rule for", "qmgr")
    assert (ev.kind, ev.f) == ("unrecognized", {"reason": "no grammar rule"})
    assert ev.program == "qmgr"


def test_misc_events(parse):
    assert parse("1A2B3C4D5E: uid=1000 from=<alice>", "pickup").kind == "pickup"
    ev = parse("connect to mx.example.net[192.0.2.25]:25: Connection refused", "smtp")
    assert (ev.kind, ev.f["relay_port"], ev.f["reason"]) == ("connect_error", 25, "Connection refused")
    ev = parse("1A2B3C4D5E: host mx.example.net[192.0.2.25] said: 550 5.1.1 No such user (in reply to RCPT TO "
               "command)", "smtp")
    assert (ev.kind, ev.f["code"], ev.f["dsn"], ev.f["command"]) == ("remote_said", 550, "5.1.1", "RCPT TO command")
    ev = parse("daemon started -- version 3.7.11, configuration /etc/postfix", "master")
    assert (ev.kind, ev.f["version"]) == ("master_start", "3.7.11")
    ev = parse("warning: hostname bad.example.net does not resolve to address 192.0.2.44: Name or service not known")
    assert (ev.kind, ev.f["address"]) == ("reverse_dns", "192.0.2.44")
    ev = parse("fatal: open database /etc/postfix/transport.db: No such file or directory", "trivial-rewrite")
    assert (ev.kind, ev.severity, ev.f["map"]) == ("map_missing", "fatal", "/etc/postfix/transport.db")
    ev = parse("TLS handshake failed for service=smtpd peer=[192.0.2.5]:4711", "tlsproxy")
    assert (ev.kind, ev.f["peer_ip"], ev.f["peer_port"]) == ("tls_error", "192.0.2.5", 4711)


def test_csv_damage_is_tolerated(parse):
    ev = parse("1A2B3C4D5E: removed,,,,,,,,", "qmgr")
    assert ev.kind == "removed"


def test_fields_are_per_event(parser, syslog):
    """Events must not share their field dict (a consumer may mutate one)."""
    a = parser.parse_line(syslog(CONNECT))
    b = parser.parse_line(syslog(CONNECT))
    a.f["x"] = 1
    assert "x" not in b.f
