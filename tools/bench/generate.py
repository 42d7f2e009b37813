#!/usr/bin/env python3
"""Generate a realistic Postfix mail log for benchmarks (deterministic for a given seed).

Every line follows a real Postfix message template (see ../shared/reference): smtpd sessions
with TLS, client=, cleanup message-id, qmgr queueing, smtp/local/lmtp deliveries (sent, deferred,
bounced), bounce notifications, removed, policy rejects, postscreen verdicts, anvil statistics.
The mix approximates a small ISP relay. Usage: generate.py LINES OUTPUT [--seed N] [--distinct]

``--distinct``: every session's client name and sender, and every recipient, is new (a sender,
recipient, client and domain per message, as a flood of forged senders makes them): the log the
summary's bounded tables (summary.MAX_KEYS) are measured with.
"""

from __future__ import annotations

import argparse
import random
import sys

MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
DOMAINS = [f"example{i}.com" for i in range(60)] + ["gmail.com", "yahoo.com", "outlook.com", "example.org"]
LOCAL = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "info", "sales", "noreply"]
REJECTS = [
    "554 5.7.1 <{rcpt}>: Relay access denied",
    "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in local recipient table",
    "450 4.7.1 Client host rejected: cannot find your hostname, [{ip}]",
    "554 5.7.1 Service unavailable; Client host [{ip}] blocked using zen.spamhaus.org",
]
DEFER = [
    "connect to mx.{dom}[{rip}]:25: Connection timed out",
    "host mx.{dom}[{rip}] said: 450 4.2.1 Mailbox busy (in reply to RCPT TO command)",
    "Host or domain name not found. Name service error for name={dom} type=MX: Host not found, try again",
]


class Log:
    def __init__(self, out, rng, start, distinct: bool = False):
        self.out, self.rng, self.t, self.n = out, rng, start, 0
        self.qn = rng.randrange(1 << 20)
        self.distinct = distinct
        self.k = 0  # names made so far (--distinct)

    def new(self) -> int:
        self.k += 1
        return self.k

    def stamp(self):
        self.t += self.rng.random() * 0.05
        s = int(self.t)
        day, rem = divmod(s, 86400)
        h, rem = divmod(rem, 3600)
        mi, se = divmod(rem, 60)
        mon = (day // 28) % 12
        return f"{MONTHS[mon]} {day % 28 + 1:>2} {h:02d}:{mi:02d}:{se:02d}"

    def line(self, prog, pid, msg):
        self.out.write(f"{self.stamp()} mx1 postfix/{prog}[{pid}]: {msg}\n")
        self.n += 1

    def qid(self):
        self.qn += self.rng.randrange(1, 5000)
        return f"{self.qn & 0xFFFFFFFFF:09X}"


def session(log: Log, rng: random.Random):
    pid = rng.randrange(1000, 60000)
    ip = f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    name = "unknown" if rng.random() < 0.3 else f"mail{rng.randrange(99)}.{rng.choice(DOMAINS)}"
    if log.distinct and name != "unknown":
        name = f"mail.c{log.new()}.example"
    client = f"{name}[{ip}]"
    if rng.random() < 0.3:
        log.line("postscreen", pid + 1, f"CONNECT from [{ip}]:{rng.randrange(1024, 65535)} to [192.0.2.10]:25")
        if rng.random() < 0.3:
            log.line("dnsblog", pid + 2, f"addr {ip} listed by domain zen.spamhaus.org as 127.0.0.4")
            log.line("postscreen", pid + 1, f"DNSBL rank 3 for [{ip}]:{rng.randrange(1024, 65535)}")
            log.line("postscreen", pid + 1, f"DISCONNECT [{ip}]:{rng.randrange(1024, 65535)}")
            return
        log.line("postscreen", pid + 1, f"PASS OLD [{ip}]:{rng.randrange(1024, 65535)}")
    log.line("smtpd", pid, f"connect from {client}")
    if rng.random() < 0.5:
        log.line("smtpd", pid, f"Anonymous TLS connection established from {client}: TLSv1.3 with cipher "
                 "TLS_AES_256_GCM_SHA384 (256/256 bits)")
    sender = f"{rng.choice(LOCAL)}@{rng.choice(DOMAINS)}"
    if log.distinct:
        k = log.new()
        sender = f"{sender.split('@')[0]}.{k}@s{k}.example"
    if rng.random() < 0.15:
        rcpt = f"{rng.choice(LOCAL)}@{rng.choice(DOMAINS)}"
        reason = rng.choice(REJECTS).format(rcpt=rcpt, ip=ip)
        log.line("smtpd", pid, f"NOQUEUE: reject: RCPT from {client}: {reason}; from=<{sender}> "
                 f"to=<{rcpt}> proto=ESMTP helo=<{name}>")
        if rng.random() < 0.1:
            log.line("smtpd", pid, f"too many errors after RCPT from {client}")
        log.line("smtpd", pid, f"disconnect from {client} ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4")
        return
    if rng.random() < 0.05:
        log.line("smtpd", pid, f"lost connection after {rng.choice(['CONNECT', 'EHLO', 'DATA (0 bytes)'])} from {client}")
        log.line("smtpd", pid, f"disconnect from {client} ehlo=1 commands=1")
        return
    for _ in range(1 if rng.random() < 0.9 else 2):
        message(log, rng, pid, client, sender)
    log.line("smtpd", pid, f"disconnect from {client} ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5")


def message(log: Log, rng: random.Random, pid: int, client: str, sender: str):
    q = log.qid()
    log.line("smtpd", pid, f"{q}: client={client}")
    log.line("cleanup", pid + 3, f"{q}: message-id=<{rng.randrange(1 << 40):x}@{sender.split('@')[1]}>")
    nrcpt = 1 if rng.random() < 0.8 else rng.randrange(2, 5)
    size = rng.randrange(800, 200000)
    log.line("qmgr", 999, f"{q}: from=<{sender}>, size={size}, nrcpt={nrcpt} (queue active)")
    for _ in range(nrcpt):
        dom = rng.choice(DOMAINS)
        if log.distinct:
            dom = f"r{log.new()}.{dom}"
        rcpt = f"{rng.choice(LOCAL)}@{dom}"
        rip = f"198.51.100.{rng.randrange(1, 255)}"
        spid = rng.randrange(1000, 60000)
        d = [rng.random() * 0.5, rng.random() * 0.1, rng.random() * 0.5, rng.random() * 2]
        delays = "/".join(f"{x:.2f}".rstrip("0").rstrip(".") or "0" for x in d)  # as Postfix writes them
        delay = f"{sum(d):.1f}"
        r = rng.random()
        if r < 0.1:
            reason = rng.choice(DEFER).format(dom=dom, rip=rip)
            log.line("smtp", spid, f"{q}: to=<{rcpt}>, relay=mx.{dom}[{rip}]:25, delay={delay}, "
                     f"delays={delays}, dsn=4.4.1, status=deferred ({reason})")
            if rng.random() < 0.5:
                continue
        if r < 0.03:
            log.line("smtp", spid, f"{q}: to=<{rcpt}>, relay=mx.{dom}[{rip}]:25, delay={delay}, delays={delays}, "
                     f"dsn=5.1.1, status=bounced (host mx.{dom}[{rip}] said: 550 5.1.1 <{rcpt}>: "
                     "Recipient address rejected: User unknown (in reply to RCPT TO command))")
            b = log.qid()
            log.line("cleanup", pid + 3, f"{b}: message-id=<{rng.randrange(1 << 40):x}@mx1.example.net>")
            log.line("bounce", spid + 1, f"{q}: sender non-delivery notification: {b}")
            log.line("qmgr", 999, f"{b}: from=<>, size=3000, nrcpt=1 (queue active)")
            log.line("smtp", spid, f"{b}: to=<{sender}>, relay=mx.{dom}[{rip}]:25, delay=0.5, "
                     "delays=0/0/0.2/0.3, dsn=2.0.0, status=sent (250 2.0.0 Ok)")
            log.line("qmgr", 999, f"{b}: removed")
            continue
        if dom.startswith("example1"):
            log.line("local", spid, f"{q}: to=<{rcpt}>, relay=local, delay={delay}, delays={delays}, "
                     "dsn=2.0.0, status=sent (delivered to mailbox)")
        else:
            log.line("smtp", spid, f"{q}: to=<{rcpt}>, relay=mx.{dom}[{rip}]:25, delay={delay}, "
                     f"delays={delays}, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as {log.qid()})")
    log.line("qmgr", 999, f"{q}: removed")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lines", type=int)
    ap.add_argument("output")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--distinct", action="store_true", help="a new sender, recipient and client name each time")
    a = ap.parse_args(argv)
    rng = random.Random(a.seed)
    with open(a.output, "w", encoding="ascii", buffering=1 << 20) as out:
        log = Log(out, rng, start=86400 * 3, distinct=a.distinct)
        while log.n < a.lines:
            session(log, rng)
            if rng.random() < 0.001:
                log.line("anvil", 77, "statistics: max connection rate 3/60s for (smtp:203.0.113.9) at "
                         f"{log.stamp()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
