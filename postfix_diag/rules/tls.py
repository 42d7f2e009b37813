"""TLS: broken TLS setup (certificates, keys, library), and failed handshakes."""

from __future__ import annotations

import re

from .base import LineRule, ProblemRule, plural, register
from .incident_spec import IncidentSpec

# "TLS library problem" lines that come from loading files at startup, not from a peer.
_SETUP_PROBLEM = re.compile(
    r"fopen|No such file|PEM routines|PEM_read|BIO routines|BIO_new_file|system library|"
    r"key values mismatch|SSL_CTX_use|x509 certificate routines:.*(?:load|get|check_private_key)|"
    r"no start line|bad decrypt|ca md too weak|ee key too small|Permission denied", re.IGNORECASE)


def tls_setup_problem(ev) -> bool:
    if ev.kind == "tls_setup":
        return True
    if ev.kind == "tls_error" and ev.f.get("what") == "TLS library problem":
        return _SETUP_PROBLEM.search(ev.f.get("reason") or ev.text) is not None
    return False


@register
class TlsSetup(ProblemRule):
    id = "TLS001"
    name = "tls-setup-broken"
    title = "TLS cannot be set up (certificate, key or library problem)"
    category = "tls"
    severity = "error"
    kinds = ("tls_setup", "tls_error")
    count_unit = "lines"
    what = """A daemon could not initialize TLS: the certificate or private key file is missing,
    unreadable or does not match (`cannot get RSA certificate from file`, `cannot get RSA private key
    from file`, `private key ... does not match public key`), OpenSSL failed to load them (`TLS library
    problem: ...:PEM routines:...`), and Postfix logged `disabling TLS support`."""
    why = """Without TLS, smtpd stops offering STARTTLS: clients that require TLS (submission users,
    MTA-STS/DANE senders, smtpd_tls_security_level = encrypt) cannot deliver or authenticate, and
    everything else travels in clear text. With smtpd_tls_wrappermode (port 465) the service fails
    completely."""
    example = (
        'Nov 25 12:00:01 mail postfix/smtpd[1234]: warning: cannot get RSA certificate from file "/etc/ssl/certs/mail.pem": disabling TLS support',
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: warning: TLS library problem: error:02001002:system library:fopen:No such file or directory:crypto/bio/bss_file.c:69:fopen('/etc/ssl/certs/mail.pem','r'):",
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: warning: TLS library problem: error:05800074:x509 certificate routines::key values mismatch:crypto/x509/x509_cmp.c:405:",
    )
    fix = """Point smtpd_tls_chain_files (or smtpd_tls_cert_file/smtpd_tls_key_file) at existing files the
    postfix user can read, with the key matching the certificate, then reload."""
    remediation = (
        "Check the configured files: `postconf smtpd_tls_chain_files smtpd_tls_cert_file smtpd_tls_key_file` and `ls -l` them.",
        "Check that key and certificate match: `openssl x509 -noout -pubkey -in CERT | sha256sum` "
        "vs `openssl pkey -pubout -in KEY | sha256sum`.",
        "Fix the paths: `postconf -e 'smtpd_tls_chain_files = /etc/ssl/private/mail.key, /etc/ssl/certs/mail.pem'`, "
        "then `postfix reload` and test with `posttls-finger -c localhost` or `openssl s_client -starttls smtp -connect localhost:25`.",
    )
    parameters = (
        ("smtpd_tls_cert_file", "(empty)", "server certificate (legacy)"),
        ("smtpd_tls_key_file", "$smtpd_tls_cert_file", "server private key (legacy)"),
        ("smtpd_tls_chain_files", "(empty)", "key and certificate chain files (Postfix 3.4+)"),
        ("smtpd_tls_security_level", "(empty)", "may: offer STARTTLS; encrypt: require it"),
    )
    references = ("TLS_README: Server-side certificate and private key configuration",
                  "DEBUG_README: Look for obvious signs of trouble")
    incident = IncidentSpec(persists=True)

    def match(self, ev):
        return tls_setup_problem(ev)

    def subject(self, ev):
        return ev.f.get("file")

    def problem(self, ev):
        return ev.f.get("what") or ("disabling TLS support" if "disabling TLS" in ev.text else "TLS library problem")

    def summarize(self, g):
        probs = self.top_problems(g)
        return f"{plural(g.count, 'TLS setup error')} ({probs}): TLS is disabled or broken."



@register
class TlsHandshake(LineRule):
    id = "TLS002"
    name = "tls-handshake-failures"
    title = "TLS handshakes failed"
    category = "tls"
    severity = "notice"
    kinds = ("tls_error",)
    count_unit = "lines"
    what = """A TLS handshake with a peer failed: `SSL_accept error from CLIENT` (smtpd), `SSL_connect error
    to SERVER` (smtp), `TLS handshake failed` (tlsproxy/postscreen), usually with a `TLS library
    problem` line naming the OpenSSL reason (no shared cipher, unsupported protocol, certificate
    verify failed, unexpected EOF)."""
    why = """Scanners and old clients fail handshakes all the time (notice). Many failures from real
    senders or to real destinations mean a protocol/cipher mismatch (a too-strict
    smtpd_tls_protocols/mandatory ciphers, or a client that only speaks TLSv1) or an expired or
    untrusted certificate."""
    example = (
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: SSL_accept error from unknown[203.0.113.9]: lost connection",
        "Nov 25 12:00:01 mail postfix/smtpd[1234]: warning: TLS library problem: error:0A000076:SSL routines::no suitable signature algorithm:ssl/statem/statem_srvr.c:2254:",
        "Nov 25 12:00:01 mail postfix/smtp[2345]: SSL_connect error to mx.example.net[192.0.2.25]:25: -1",
    )
    fix = """Look at the OpenSSL reasons and the peers. For scanners, nothing. For real peers, relax the
    protocol/cipher settings to the defaults, renew an expired certificate, and check with
    posttls-finger / openssl s_client."""
    remediation = (
        "Identify the peers and OpenSSL reasons in the evidence; scanners need no action.",
        "For real peers, go back to the default protocols/ciphers: `postconf -X smtpd_tls_protocols smtpd_tls_ciphers` "
        "(and `postconf -e 'smtpd_tls_loglevel = 1'` for more detail), then `postfix reload`.",
        "Test: `openssl s_client -starttls smtp -connect HOST:25` / `posttls-finger -c HOST`.",
    )
    parameters = (
        ("smtpd_tls_loglevel", "0", "1 logs a summary of each TLS handshake"),
        ("smtpd_tls_protocols", "!SSLv2, !SSLv3 (version dependent)", "TLS protocols offered"),
        ("smtpd_tls_mandatory_protocols", "!SSLv2, !SSLv3 (version dependent)", "protocols when TLS is mandatory"),
    )
    references = ("TLS_README", "DEBUG_README: Look for obvious signs of trouble")

    def match(self, ev):
        return not tls_setup_problem(ev)

    def subject(self, ev):
        return ev.f.get("peer_ip")

    def tally(self, ev, g):
        what = ev.f.get("what") or "TLS error"
        g.tally("by_kind", what)
        peer = ev.f.get("peer_ip")
        if peer:
            g.tally("top_peers", f"{ev.f.get('peer_host', '')}[{peer}]")
        if what == "TLS library problem":
            reason = (ev.f.get("reason") or "").split(":")
            g.tally("by_openssl_reason", reason[4] if len(reason) > 4 and reason[4] else ":".join(reason)[:80])

    def summarize(self, g):
        return (f"{plural(g.count, 'TLS handshake error line')} with "
                f"{plural(len(g.counter('top_peers')), 'peer')}.")

    def evidence(self, g):
        return {"by_kind": g.breakdown("by_kind"), "top_peers": g.top("top_peers"),
                "by_openssl_reason": g.top("by_openssl_reason")}
