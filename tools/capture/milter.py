#!/usr/bin/env python3
"""A tiny accept-everything milter for the capture scenarios (standard library only).

  milter.py --listen 127.0.0.1:8891

Speaks the Sendmail milter protocol (version 6) as Postfix's milter8 client expects it: answers
SMFIC_OPTNEG with no actions and no protocol exclusions, then SMFIR_CONTINUE to every command that
wants a reply (connect, helo, mail, rcpt, data, header, end of header, body, end of message,
unknown); macros, abort and quit get no reply. Every message is accepted unchanged, so the log
shows the milter only when it is unreachable. One thread per connection; loopback only.
"""
import argparse
import socket
import struct
import sys
import threading

SMFI_VERSION = 6
NO_REPLY = {b"D", b"A", b"K"}  # macro, abort, quit-new-connection (v6): no reply
# every other command (C H M R T L N B E U) is answered with SMFIR_CONTINUE ('c')


def read_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def send_packet(conn, cmd: bytes, data: bytes = b""):
    conn.sendall(struct.pack("!I", len(data) + 1) + cmd + data)


def serve(conn):
    conn.settimeout(120)
    try:
        while True:
            head = read_exact(conn, 4)
            if head is None:
                return
            (size,) = struct.unpack("!I", head)
            if size < 1 or size > 1 << 20:
                return
            packet = read_exact(conn, size)
            if packet is None:
                return
            cmd = packet[:1]
            if cmd == b"O":
                send_packet(conn, b"O", struct.pack("!III", SMFI_VERSION, 0, 0))
            elif cmd == b"Q":
                return
            elif cmd not in NO_REPLY:
                send_packet(conn, b"c")
    except OSError:
        return
    finally:
        conn.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", default="127.0.0.1:8891")
    a = p.parse_args()
    host, _, port = a.listen.rpartition(":")
    if not host.startswith("127."):
        sys.exit("milter.py: loopback addresses only")
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, int(port)))
    srv.listen(64)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
