#!/usr/bin/env python3
"""Tiny SMTP client for the capture scenarios (standard library only).

Every connection has a socket timeout and every loop a fixed count, so the
traffic is bounded. Only loopback (or own-netns) targets are used by callers.

  smtpc.py send   --server 127.0.0.1:25 --from a@x --to b@y [--to c@y] [--count N]
  smtpc.py script --server 127.0.0.1:25 STEP...      steps: read | readall | drain:SECS | send:TEXT |
                                                      sendraw:TEXT | sleep:SECS | close
                 (TEXT: "\\r\\n" escapes are honoured; send: appends CRLF)
  smtpc.py slow   --server 192.0.2.1:25 --n 8 --hold 6   (n concurrent sessions: EHLO, wait, QUIT)
  smtpc.py auth   --server 127.0.0.1:25 --user U --password P --mech LOGIN|PLAIN [--tries N] [--send-to ADDR]
                 (one session, N AUTH attempts with that password; after a success, optionally one message)
  smtpc.py tls    --server 127.0.0.1:25 --mode ok|close|garbage|tls1 [--count N] [--send-to ADDR]
                 (ok: STARTTLS + handshake (no verification) [+ one message]; close: STARTTLS then hang up;
                  garbage: STARTTLS then plain text; tls1: a handshake offering only TLSv1.0)
"""
import argparse
import smtplib
import socket
import ssl
import sys
import threading
import time
import warnings
from email.message import EmailMessage


def hostport(s):
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


def cmd_send(a):
    host, port = hostport(a.server)
    src = (a.source, 0) if a.source else None
    ok = fail = 0
    for i in range(a.count):
        msg = EmailMessage()
        msg["From"] = getattr(a, "from")
        msg["To"] = ", ".join(a.to)
        msg["Subject"] = f"{a.subject} {i + 1}/{a.count}"
        msg.set_content(f"capture test message {i + 1} of {a.count}\n" + "x" * a.size + "\n")
        try:
            with smtplib.SMTP(host, port, local_hostname=a.helo, timeout=a.timeout,
                              source_address=src) as s:
                refused = s.send_message(msg, from_addr=getattr(a, "from"), to_addrs=a.to)
                if refused:
                    print(f"partially refused: {refused}")
            ok += 1
        except (smtplib.SMTPException, OSError) as e:
            print(f"send failed: {e!r}")
            fail += 1
        if a.delay:
            time.sleep(a.delay)
    print(f"send: {ok} accepted, {fail} failed")
    return 0


def unescape(t):
    return t.replace("\\r", "\r").replace("\\n", "\n")


def cmd_script(a):
    host, port = hostport(a.server)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    if a.source:
        s.bind((a.source, 0))
    s.connect((host, port))
    try:
        for step in a.steps:
            kind, _, arg = step.partition(":")
            if kind == "read":
                data = s.recv(4096)
                print("S:", data.decode(errors="replace").rstrip())
            elif kind == "readall":
                end = time.time() + a.timeout
                while time.time() < end:
                    try:
                        data = s.recv(4096)
                    except TimeoutError:
                        break
                    if not data:
                        break
                    print("S:", data.decode(errors="replace").rstrip())
            elif kind == "drain":
                # read whatever arrives until the line is quiet for SECS
                s.settimeout(float(arg or 1))
                try:
                    while True:
                        data = s.recv(4096)
                        if not data:
                            break
                        print("S:", data.decode(errors="replace").rstrip())
                except TimeoutError:
                    pass
                s.settimeout(a.timeout)
            elif kind == "send":
                s.sendall((unescape(arg) + "\r\n").encode())
                print("C:", arg)
            elif kind == "sendraw":
                s.sendall(unescape(arg).encode())
                print("C(raw):", arg)
            elif kind == "sleep":
                time.sleep(float(arg))
            elif kind == "close":
                break
            else:
                raise SystemExit(f"bad step {step!r}")
    except OSError as e:
        print(f"connection ended: {e!r}")
    finally:
        s.close()
    return 0


def cmd_slow(a):
    host, port = hostport(a.server)
    src = (a.source, 0) if a.source else None
    results = []

    def one(i):
        try:
            s = socket.create_connection((host, port), timeout=a.timeout, source_address=src)
            s.recv(1024)
            s.sendall(f"EHLO slow{i}.capture.example\r\n".encode())
            s.recv(4096)
            time.sleep(a.hold)
            s.sendall(b"QUIT\r\n")
            s.recv(1024)
            s.close()
            results.append("ok")
        except OSError as e:
            results.append(repr(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(a.n)]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join(a.hold + 2 * a.timeout + 5)
    print("slow:", results)
    return 0


def cmd_auth(a):
    """One SMTP session with --tries AUTH attempts (wrong or right password)."""
    host, port = hostport(a.server)
    src = (a.source, 0) if a.source else None
    ok = fail = 0
    try:
        with smtplib.SMTP(host, port, local_hostname=a.helo, timeout=a.timeout, source_address=src) as s:
            s.ehlo()
            s.user, s.password = a.user, a.password
            mech = a.mech.upper()
            authobj = {"LOGIN": s.auth_login, "PLAIN": s.auth_plain}[mech]
            for _ in range(a.tries):
                try:
                    code, resp = s.auth(mech, authobj)
                    print(f"AUTH {mech} {a.user}: {code} {resp.decode(errors='replace')}")
                    ok += 1
                    break
                except smtplib.SMTPAuthenticationError as e:
                    print(f"AUTH {mech} {a.user}: {e.smtp_code} {e.smtp_error.decode(errors='replace')}")
                    fail += 1
            if ok and a.send_to:
                msg = EmailMessage()
                msg["From"] = f"{a.user}@capture.example"
                msg["To"] = a.send_to
                msg["Subject"] = "authenticated capture message"
                msg.set_content("sent after a successful SMTP AUTH\n")
                s.send_message(msg, to_addrs=[a.send_to])
                print(f"sent to {a.send_to}")
    except (smtplib.SMTPException, OSError) as e:
        print(f"session failed: {e!r}")
    print(f"auth: {ok} succeeded, {fail} failed")
    return 0


def cmd_tls(a):
    """STARTTLS sessions: a good handshake, or one of several broken ones."""
    host, port = hostport(a.server)
    src = (a.source, 0) if a.source else None
    for i in range(a.count):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if a.mode == "tls1":
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            with warnings.catch_warnings():  # TLSv1 is deprecated: that is the point here
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.maximum_version = ssl.TLSVersion.TLSv1
        try:
            with smtplib.SMTP(host, port, local_hostname=a.helo, timeout=a.timeout,
                              source_address=src) as s:
                s.ehlo()
                if a.mode in ("ok", "tls1"):
                    try:
                        s.starttls(context=ctx)
                    except (ssl.SSLError, OSError) as e:
                        print(f"{i + 1}: handshake failed: {e!r}")
                        s.close()
                        continue
                    s.ehlo()
                    print(f"{i + 1}: TLS established: {s.sock.version()} {s.sock.cipher()[0]}")
                    if a.send_to:
                        msg = EmailMessage()
                        msg["From"] = "sender@capture.example"
                        msg["To"] = a.send_to
                        msg["Subject"] = f"tls capture {i + 1}/{a.count}"
                        msg.set_content("sent over STARTTLS\n")
                        s.send_message(msg, to_addrs=[a.send_to])
                        print(f"{i + 1}: sent to {a.send_to}")
                    s.quit()
                    continue
                code, resp = s.docmd("STARTTLS")
                print(f"{i + 1}: STARTTLS -> {code} {resp.decode(errors='replace')}")
                if a.mode == "garbage":
                    s.sock.sendall(b"this is not a TLS record\r\nQUIT\r\n")
                    try:
                        s.sock.recv(4096)
                    except OSError:
                        pass
                s.close()
        except (smtplib.SMTPException, OSError) as e:
            print(f"{i + 1}: session failed: {e!r}")
        if a.delay:
            time.sleep(a.delay)
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("send", "script", "slow", "auth", "tls"):
        sp = sub.add_parser(name)
        sp.add_argument("--server", default="127.0.0.1:25")
        sp.add_argument("--source", help="local source IP to bind")
        sp.add_argument("--timeout", type=float, default=20)
        if name == "send":
            sp.add_argument("--from", default="sender@capture.example")
            sp.add_argument("--to", action="append", required=True)
            sp.add_argument("--count", type=int, default=1)
            sp.add_argument("--subject", default="capture")
            sp.add_argument("--helo", default="client.capture.example")
            sp.add_argument("--size", type=int, default=100)
            sp.add_argument("--delay", type=float, default=0)
        elif name == "script":
            sp.add_argument("steps", nargs="+")
        elif name == "auth":
            sp.add_argument("--helo", default="client.capture.example")
            sp.add_argument("--user", required=True)
            sp.add_argument("--password", required=True)
            sp.add_argument("--mech", default="LOGIN", choices=("LOGIN", "PLAIN"))
            sp.add_argument("--tries", type=int, default=1)
            sp.add_argument("--send-to")
        elif name == "tls":
            sp.add_argument("--helo", default="client.capture.example")
            sp.add_argument("--mode", required=True, choices=("ok", "close", "garbage", "tls1"))
            sp.add_argument("--count", type=int, default=1)
            sp.add_argument("--send-to")
            sp.add_argument("--delay", type=float, default=0)
        else:
            sp.add_argument("--n", type=int, default=8)
            sp.add_argument("--hold", type=float, default=5)
    a = p.parse_args()
    return {"send": cmd_send, "script": cmd_script, "slow": cmd_slow,
            "auth": cmd_auth, "tls": cmd_tls}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
