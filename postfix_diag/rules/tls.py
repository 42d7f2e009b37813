"""TLS: broken TLS setup (certificates, keys, library), and failed handshakes."""

from __future__ import annotations

import re

from .base import LineRule, ProblemRule, plural, register
from .incident_spec import IncidentSpec
from .settings import Facts, services_for_tags

# "TLS library problem" lines that come from loading files at startup, not from a peer: the
# crypto library's file, PEM, X.509, STORE and DECODER routines, and the SSL library's
# certificate/key loading (ssl_rsa.c, ssl_cert.c: "SSL routines::system lib" when a file
# cannot be read, "ca md too weak", "ee key too small").
_SETUP_PROBLEM = re.compile(
    r"fopen|No such file|PEM routines|PEM_read|BIO routines|BIO_new_file|system library|"
    r"key values mismatch|SSL_CTX_use|x509 certificate routines:.{0,200}(?:load|get|check_private_key)|"
    r"no start line|bad decrypt|ca md too weak|ee key too small|Permission denied|STORE routines|"
    r"DECODER routines|unregistered scheme|/ssl_rsa\.c:|/ssl_cert\.c:|/ssl_conf\.c:", re.IGNORECASE)
TLS_FILES = ("smtpd_tls_chain_files", "smtpd_tls_cert_file", "smtpd_tls_key_file", "smtpd_tls_eccert_file",
             "smtpd_tls_eckey_file", "smtpd_tls_dcert_file", "smtpd_tls_dkey_file")
HANDSHAKE = ("SSL_accept error", "SSL_connect error", "TLS handshake failed", "handshake failure")


# An OpenSSL error in a "TLS library problem" line: "error:CODE:LIBRARY:FUNCTION:REASON:FILE:LINE:DATA"
# (OpenSSL 3 leaves FUNCTION empty; Postfix with OpenSSL 1.0 puts a thread id before "error:").
_OPENSSL = re.compile(r"(?:^|:)error:[0-9A-Fa-f]{1,16}:([^:]{0,80}):([^:]{0,80}):([^:]{1,200})")
_ALERT = re.compile(r"SSL alert number (\d{1,3})")


def openssl_reason(text: str) -> str | None:
    """The reason of an OpenSSL error (``tlsv1 alert unknown ca``, ``wrong version number``), with
    the TLS alert number when the line has one; never the function name."""
    m = _OPENSSL.search(text or "")
    if m is None:
        return None
    reason = m.group(3).strip()
    alert = _ALERT.search(text)
    return f"{reason} (SSL alert number {alert.group(1)})" if alert else reason


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
        "Restore the files, or correct the path on the line that sets the parameter (`postconf -n | grep tls_` shows "
        "it; a service's -o override in master.cf wins over main.cf), then `postfix reload` and test with "
        "`posttls-finger -c localhost` or `openssl s_client -starttls smtp -connect localhost:25`.",
    )
    track_tags = True
    with_config = """Shows the certificate and key parameters (smtpd_tls_chain_files, smtpd_tls_cert_file,
    smtpd_tls_key_file) as the failing services read them, with where each is set, and checks the
    files named in the log against them."""
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

    def tally(self, ev, g):
        super().tally(ev, g)
        g.tally("by_openssl_reason", openssl_reason(ev.f.get("reason") or ""))

    def evidence(self, g):
        return {**super().evidence(g), "by_openssl_reason": g.top("by_openssl_reason")}

    def summarize(self, g):
        probs = self.top_problems(g)
        return f"{plural(g.count, 'TLS setup error')} ({probs}): TLS is disabled or broken."

    def refine(self, f):
        cfg = self.config
        if cfg is None or not cfg.has_main:
            return
        facts = Facts(cfg)
        services = services_for_tags(cfg, self.tags) or [None]
        settings = []
        for svc in services:
            key = (svc.name, svc.type) if svc is not None else None
            for name in TLS_FILES:
                value = (cfg.expanded(name, key) or "").strip()
                if value and not value.startswith("$"):
                    facts.param(name, key)
                    settings.append(f"{name} = {value} ({cfg.where(name, key)})")
        files = [k for k, _ in self.subjects.most_common(5) if k and k != "(other)"]
        settings = list(dict.fromkeys(settings))
        if settings:
            f.remediation = [
                "The failing daemons read " + "; ".join(settings) + ": "
                + ("check the files the log names: " + ", ".join(f"`ls -l {p}`" for p in files) if files else
                   "check that each file exists and the postfix user can read it") + ".",
                self.remediation[1],
                "Restore the files, or correct the path on the line named above, then `postfix reload` and test with "
                "`posttls-finger -c localhost` or `openssl s_client -starttls smtp -connect localhost:25`.",
            ]
        f.config = dict(facts)



@register
class TlsHandshake(LineRule):
    id = "TLS002"
    name = "tls-handshake-failures"
    title = "TLS handshakes failed"
    category = "tls"
    severity = "notice"
    kinds = ("tls_error",)
    track_tags = True
    count_unit = ("failed handshakes (SSL_accept/SSL_connect error, TLS handshake failed lines); the TLS "
                  "library problem lines that follow give their OpenSSL reasons")
    what = """A TLS handshake with a peer failed: `SSL_accept error from CLIENT` (smtpd), `SSL_connect error
    to SERVER` (smtp), `TLS handshake failed` (tlsproxy/postscreen), usually with a `TLS library
    problem` line naming the OpenSSL reason (no shared cipher, unsupported protocol, certificate
    verify failed, unexpected EOF, `tlsv1 alert unknown ca`: the peer does not trust our
    certificate's issuer). The evidence keeps the reason in full, with the TLS alert number,
    whatever the OpenSSL version's layout of the error."""
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
        "For real peers, compare the protocol and cipher settings with Postfix's defaults: `postconf "
        "smtpd_tls_protocols smtpd_tls_mandatory_protocols smtpd_tls_ciphers` and `postconf -d smtpd_tls_protocols "
        "smtpd_tls_mandatory_protocols smtpd_tls_ciphers`; a stricter setting refuses older clients (log more "
        "with `postconf -e 'smtpd_tls_loglevel = 1'`, then `postfix reload`).",
        "Test: `openssl s_client -starttls smtp -connect HOST:25` / `posttls-finger -c HOST`.",
    )
    with_config = """Shows the protocol settings (smtpd_tls_protocols, smtpd_tls_mandatory_protocols) the
    failing services read when the OpenSSL reasons are protocol mismatches, so a policy that refuses
    old clients on purpose is told from a broken one."""
    parameters = (
        ("smtpd_tls_loglevel", "0", "1 logs a summary of each TLS handshake"),
        ("smtpd_tls_protocols", "!SSLv2, !SSLv3 (version dependent)", "TLS protocols offered"),
        ("smtpd_tls_mandatory_protocols", "!SSLv2, !SSLv3 (version dependent)", "protocols when TLS is mandatory"),
    )
    references = ("TLS_README", "DEBUG_README: Look for obvious signs of trouble")

    def match(self, ev):
        return (ev.f.get("what") or "") in HANDSHAKE

    def claim_only(self, ev):
        # a TLS library problem of a handshake (setup problems are TLS001's): its OpenSSL reason
        if ev.f.get("what") == "TLS library problem" and not tls_setup_problem(ev):
            reason = ev.f.get("reason") or ""
            self.g.tally("by_openssl_reason", openssl_reason(reason) or reason[:120])
            return True
        return False

    def subject(self, ev):
        return ev.f.get("peer_ip")

    def tally(self, ev, g):
        g.tally("by_kind", ev.f.get("what") or "TLS error")
        peer = ev.f.get("peer_ip")
        if peer:
            g.tally("top_peers", f"{ev.f.get('peer_host', '')}[{peer}]")
        reason = ev.f.get("reason") or ""
        if reason:
            g.tally("by_reason", reason[:120])  # SSL_accept/SSL_connect: lost connection, -1, ...

    def summarize(self, g):
        return (f"{plural(g.count, 'TLS handshake')} failed, with "
                f"{plural(len(g.counter('top_peers')), 'peer')}.")

    def refine(self, f):
        cfg = self.config
        reasons = " ".join(k for k, _ in self.g.top("by_openssl_reason", 10)).lower()
        if cfg is None or not cfg.has_main or not any(
                r in reasons for r in ("protocol", "version", "cipher", "signature algorithm")):
            return
        facts = Facts(cfg)
        shown = []
        for svc in services_for_tags(cfg, self.tags) or [None]:
            key = (svc.name, svc.type) if svc is not None else None
            for name in ("smtpd_tls_protocols", "smtpd_tls_mandatory_protocols", "smtpd_tls_ciphers"):
                facts.param(name, key)
                if cfg.is_set(name) or (svc is not None and name in svc.overrides):
                    shown.append(f"{name} = {cfg.value(name, key)} ({cfg.where(name, key)})")
        if shown:
            f.remediation.insert(1, "The OpenSSL reasons are protocol or cipher mismatches and this server restricts "
                                 "them: " + "; ".join(dict.fromkeys(shown)) + ". Clients that offer only older "
                                 "versions fail on purpose; relax the line named only if such a client is yours.")
        f.config = dict(facts)

    def evidence(self, g):
        return {"by_kind": g.breakdown("by_kind"), "top_peers": g.top("top_peers"),
                "by_openssl_reason": g.top("by_openssl_reason"), "by_reason": g.top("by_reason")}
