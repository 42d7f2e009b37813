#!/usr/bin/env python3
"""An amavis-style after-queue content filter for the capture scenarios (standard library only).

  filter.py --listen 127.0.0.1:10024 --next 127.0.0.1:10025 [--journal FILE]

Postfix's `content_filter = scan:[127.0.0.1]:10024` hands every message to this SMTP server. It
"scans" the message (adds an `X-Virus-Scanned: capture-filter` header) and, while the DATA
command of its client is still open, re-sends it to the smtpd on --next (the master.cf entry with
`-o content_filter=`), passing the original client and queue id on with XFORWARD when the next
hop offers it. It answers its client with the next hop's reply, as amavisd-new does:
`250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as NEWQID`, so that the log
links the two queue ids. A failure of the next hop is answered with 451 (the message stays in
Postfix's queue). With --journal, one JSON line per message: the original queue id (XFORWARD
IDENT, or for mail without XFORWARD such as pickup's the `id` of the topmost Received: header),
sender, recipients, Subject and the next hop's reply. Loopback only.
"""
import argparse
import json
import re
import smtplib
import socketserver
import sys
import threading

HOSTNAME = "filter.capture.example"
XFORWARD_ATTRS = ("NAME", "ADDR", "PROTO", "HELO", "IDENT", "SOURCE")
_journal_lock = threading.Lock()


def hostport(s):
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


def address(arg: str) -> str:
    """The address of `FROM:<a@b> SIZE=1` / `TO:<a@b>`."""
    _, _, rest = arg.partition(":")
    rest = rest.strip()
    if rest.startswith("<"):
        return rest[1:rest.find(">")] if ">" in rest else rest[1:]
    return rest.split(" ", 1)[0]


def header(data: bytes, name: bytes) -> str:
    """The first header NAME of the message, unfolded ("" when absent)."""
    value, found = [], False
    for line in data.split(b"\r\n"):
        if not line:
            break
        if found:
            if line[:1] in (b" ", b"\t"):
                value.append(line.strip())
                continue
            break
        if line.lower().startswith(name.lower() + b":"):
            found = True
            value.append(line[len(name) + 1:].strip())
    return b" ".join(value).decode(errors="replace")


def received_queue_id(data: bytes):
    """The queue id in the topmost Received: header (`... (Postfix) with ESMTP id 3F1A2160137; date`):
    Postfix's smtp client sends XFORWARD IDENT only for mail that came in by SMTP, not pickup's."""
    m = re.search(r"\bid ([0-9A-Za-z]+)\s*;", header(data, b"Received"))
    return m.group(1) if m else None


class Handler(socketserver.StreamRequestHandler):
    timeout = 120

    def reply(self, text: str):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        self.reset()
        self.reply(f"220 {HOSTNAME} ESMTP capture-filter")
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return
            cmd, _, arg = line.decode(errors="replace").rstrip("\r\n").partition(" ")
            verb = cmd.upper()
            if verb in ("EHLO", "LHLO"):
                self.reply(f"250-{HOSTNAME}\r\n250-8BITMIME\r\n250-SIZE 10240000\r\n"
                           f"250-XFORWARD {' '.join(XFORWARD_ATTRS)}\r\n250 ENHANCEDSTATUSCODES")
            elif verb == "HELO":
                self.reply(f"250 {HOSTNAME}")
            elif verb == "XFORWARD":
                for kv in arg.split():
                    k, _, v = kv.partition("=")
                    if k.upper() in XFORWARD_ATTRS:
                        self.xforward[k.upper()] = v
                self.reply("250 2.0.0 Ok")
            elif verb == "MAIL":
                self.sender = address(arg)
                self.reply("250 2.1.0 Ok")
            elif verb == "RCPT":
                self.rcpts.append(address(arg))
                self.reply("250 2.1.5 Ok")
            elif verb == "DATA":
                if not self.rcpts:
                    self.reply("503 5.5.1 Error: need RCPT command")
                    continue
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = self.read_data()
                if data is None:
                    return
                self.reply(self.forward(data))
                self.reset()
            elif verb == "RSET":
                self.reset()
                self.reply("250 2.0.0 Ok")
            elif verb == "NOOP":
                self.reply("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 Bye")
                return
            else:
                self.reply("502 5.5.2 Error: command not recognized")

    def reset(self):
        self.sender, self.rcpts, self.xforward = "", [], {}

    def read_data(self):
        lines = []
        while True:
            line = self.rfile.readline(1 << 20)
            if not line:
                return None
            if line in (b".\r\n", b".\n"):
                break
            if line.startswith(b".."):
                line = line[1:]
            lines.append(line.rstrip(b"\r\n"))
        return b"\r\n".join(lines) + b"\r\n"

    def forward(self, data: bytes) -> str:
        data = b"X-Virus-Scanned: capture-filter\r\n" + data
        host, port = self.server.next_hop
        hop = f"smtp:[{host}]:{port}"
        try:
            with smtplib.SMTP(host, port, local_hostname=HOSTNAME, timeout=60) as s:
                s.ehlo()
                if s.has_extn("xforward") and self.xforward:
                    offered = set(s.esmtp_features["xforward"].upper().split())
                    attrs = " ".join(f"{k}={v}" for k, v in self.xforward.items() if k in offered)
                    if attrs:
                        s.docmd("XFORWARD", attrs)
                s.mail(self.sender)
                for r in self.rcpts:
                    code, resp = s.rcpt(r)
                    if code >= 400:
                        raise smtplib.SMTPRecipientsRefused({r: (code, resp)})
                code, resp = s.data(data)
                text = f"{code} {resp.decode(errors='replace')}"
        except (smtplib.SMTPException, OSError) as e:
            text = f"failed: {e!r}"
            answer = f"451 4.5.0 Error in processing, id={self.xforward.get('IDENT', '?')}: next hop {hop} {text}"
        else:
            answer = (f"250 2.0.0 from MTA({hop}): {text}" if code < 400 else
                      f"451 4.5.0 from MTA({hop}): {text}")
        if self.server.journal:
            ident = self.xforward.get("IDENT")
            rec = {"orig_queue_id": ident or received_queue_id(data),
                   "orig_queue_id_from": "XFORWARD IDENT" if ident else "Received header",
                   "client": self.xforward.get("NAME"),
                   "sender": self.sender, "recipients": self.rcpts, "subject": header(data, b"Subject"),
                   "next_hop_reply": text, "answer": answer}
            with _journal_lock, open(self.server.journal, "a") as f:
                f.write(json.dumps(rec) + "\n")
        return answer


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", default="127.0.0.1:10024")
    p.add_argument("--next", default="127.0.0.1:10025")
    p.add_argument("--journal")
    a = p.parse_args()
    listen, nxt = hostport(a.listen), hostport(a.next)
    if not (listen[0].startswith("127.") and nxt[0].startswith("127.")):
        sys.exit("filter.py: loopback addresses only")
    srv = Server(listen, Handler)
    srv.next_hop, srv.journal = nxt, a.journal
    srv.serve_forever()


if __name__ == "__main__":
    main()
