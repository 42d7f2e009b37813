#!/usr/bin/env python3
"""A smarthost that requires SMTP AUTH, for the capture scenarios (standard library only).

  smarthost.py --listen 127.0.0.1:2587 --user relayuser --password secret [--mechs "PLAIN LOGIN"]

Stands in for an ISP's or a mail provider's submission server as a Postfix relayhost: it offers
`AUTH` with the given mechanisms (PLAIN and LOGIN by default, no STARTTLS), refuses MAIL before
a successful AUTH with `530 5.7.0 Authentication required`, answers a wrong user name or
password with `535 5.7.8 Error: authentication failed: authentication failure` (the reply of a
Postfix+Dovecot server), and accepts mail after a good one (`250 2.0.0 Ok: queued as SMARTn`,
the message is discarded). It logs nothing into the Postfix log; it prints one line per AUTH to
stdout. Loopback only.
"""
import argparse
import base64
import socketserver
import sys
import threading

HOSTNAME = "smarthost.capture.example"
_count = [0]
_lock = threading.Lock()


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def unb64(s: str) -> str:
    try:
        return base64.b64decode(s.strip(), validate=True).decode(errors="replace")
    except (ValueError, base64.binascii.Error):
        return ""


class Handler(socketserver.StreamRequestHandler):
    timeout = 60

    def reply(self, text: str):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()

    def readline(self):
        line = self.rfile.readline(4096)
        return None if not line else line.decode(errors="replace").rstrip("\r\n")

    def handle(self):
        srv = self.server
        authed, rcpts, mail = False, 0, False
        self.reply(f"220 {HOSTNAME} ESMTP smarthost")
        while True:
            line = self.readline()
            if line is None:
                return
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                self.reply(f"250-{HOSTNAME}\r\n250-AUTH {srv.mechs}\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES")
            elif verb == "HELO":
                self.reply(f"250 {HOSTNAME}")
            elif verb == "AUTH":
                ok = self.auth(arg)
                if ok is None:
                    return
                authed = authed or ok
            elif verb == "MAIL":
                if not authed:
                    self.reply("530 5.7.0 Authentication required")
                    continue
                mail, rcpts = True, 0
                self.reply("250 2.1.0 Ok")
            elif verb == "RCPT":
                if not mail:
                    self.reply("503 5.5.1 Error: need MAIL command")
                    continue
                rcpts += 1
                self.reply("250 2.1.5 Ok")
            elif verb == "DATA":
                if not rcpts:
                    self.reply("503 5.5.1 Error: need RCPT command")
                    continue
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                while True:
                    data = self.rfile.readline(1 << 20)
                    if not data:
                        return
                    if data in (b".\r\n", b".\n"):
                        break
                with _lock:
                    _count[0] += 1
                    n = _count[0]
                self.reply(f"250 2.0.0 Ok: queued as SMART{n}")
                mail, rcpts = False, 0
            elif verb == "RSET":
                mail, rcpts = False, 0
                self.reply("250 2.0.0 Ok")
            elif verb == "NOOP":
                self.reply("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 Bye")
                return
            else:
                self.reply("502 5.5.2 Error: command not recognized")

    def auth(self, arg: str):
        """One AUTH exchange: True (235), False (535 or bad syntax), None (connection lost)."""
        srv = self.server
        mech, _, initial = arg.partition(" ")
        mech = mech.upper()
        if mech not in srv.mechs.split():
            self.reply("504 5.5.4 Unsupported authentication mechanism")
            return False
        if mech == "PLAIN":
            if not initial:
                self.reply("334 ")
                initial = self.readline()
                if initial is None:
                    return None
            parts = unb64(initial).split("\0")
            user, password = (parts[1], parts[2]) if len(parts) == 3 else ("", "")
        else:  # LOGIN
            self.reply("334 " + b64("Username:"))
            u = self.readline()
            if u is None:
                return None
            self.reply("334 " + b64("Password:"))
            p = self.readline()
            if p is None:
                return None
            user, password = unb64(u), unb64(p)
        ok = (user, password) == (srv.user, srv.password)
        print(f"AUTH {mech} user={user!r}: {'ok' if ok else 'failed'}", flush=True)
        if ok:
            self.reply("235 2.7.0 Authentication successful")
        else:
            self.reply("535 5.7.8 Error: authentication failed: authentication failure")
        return ok


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", default="127.0.0.1:2587")
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--mechs", default="PLAIN LOGIN")
    a = p.parse_args()
    host, _, port = a.listen.rpartition(":")
    if not host.startswith("127."):
        sys.exit("smarthost.py: loopback addresses only")
    srv = Server((host, int(port)), Handler)
    srv.user, srv.password, srv.mechs = a.user, a.password, a.mechs.upper()
    srv.serve_forever()


if __name__ == "__main__":
    main()
