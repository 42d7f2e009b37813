#!/usr/bin/env python3
"""Tiny SMTP client for the capture scenarios (standard library only).

Every connection has a socket timeout and every loop a fixed count, so the
traffic is bounded. Only loopback (or own-netns) targets are used by callers.

  smtpc.py send   --server 127.0.0.1:25 --from a@x --to b@y [--to c@y] [--count N]
  smtpc.py script --server 127.0.0.1:25 STEP...      steps: read | readall | drain:SECS | send:TEXT |
                                                      sendraw:TEXT | sleep:SECS | close
                 (TEXT: "\\r\\n" escapes are honoured; send: appends CRLF)
  smtpc.py slow   --server 192.0.2.1:25 --n 8 --hold 6
"""
import argparse
import smtplib
import socket
import sys
import threading
import time
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
                    except socket.timeout:
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
                except socket.timeout:
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
    results = []

    def one(i):
        try:
            s = socket.create_connection((host, port), timeout=a.timeout)
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


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("send", "script", "slow"):
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
        else:
            sp.add_argument("--n", type=int, default=8)
            sp.add_argument("--hold", type=float, default=5)
    a = p.parse_args()
    return {"send": cmd_send, "script": cmd_script, "slow": cmd_slow}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
