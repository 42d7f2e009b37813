"""SASL: the SMTP server's authentication backend (Dovecot auth, saslauthd) being unavailable,
and the SMTP client failing to authenticate to a relayhost or smarthost.

Both read the grammar's fields: the Dovecot socket of ``SASL: Connect to Dovecot auth socket
'X' failed``, the Cyrus SASL message of ``SASL authentication failure: ...``, the reason of an
smtpd ``SASL ... authentication failed: REASON`` line, and the relay and reason of a delivery
line that starts with Postfix's own ``SASL authentication failed``."""

from __future__ import annotations

import base64
import binascii
import json
import re

from ..events import place
from .base import OTHER, FirstSeenCounter, Group, Rule, group_in, merge_groups, plural, register

# --- the SMTP server side -------------------------------------------------------------------

# Reasons of an smtpd "SASL <mech> authentication failed: REASON" line that mean the backend
# could not answer, not that the password was wrong: Cyrus SASL's SASL_FAIL text (saslauthd
# unreachable, an LDAP/SQL backend down), SASL_UNAVAIL, SASL_TRYAGAIN, and Postfix's Dovecot
# client when the auth server went away (xsasl_dovecot_server.c).
BACKEND_REASONS = ("generic failure", "remote authentication server unavailable", "transient failure",
                   "Connection lost to authentication server")
_DOVECOT_REASONS = ("Connection lost to authentication server",)
# Cyrus SASL messages (xsasl_cyrus_log: "SASL authentication failure: MESSAGE") that name an
# unavailable password checker; the key of the finding is the checker.
_CYRUS_BACKENDS = (
    ("cannot connect to saslauthd server", "saslauthd"),
    ("cannot connect to pwcheck server", "pwcheck"),
    ("auxpropfunc error", "auxprop"),
    ("unable to open Berkeley db", "sasldb"),
    ("could not find auxprop plugin", "auxprop"),
)
NO_MECHANISMS = "no SASL authentication mechanisms"  # smtpd's fatal when the backend offers none
DOVECOT = "dovecot"
CYRUS = "cyrus sasl"
MECHANISMS = "mechanisms"


def backend_failure(ev) -> bool:
    """Whether an smtpd ``sasl_failure`` line failed because the backend could not answer."""
    reason = ev.f.get("reason") or ""
    return ev.kind == "sasl_failure" and reason.startswith(BACKEND_REASONS)


def _cyrus_backend(reason: str) -> str | None:
    for text, backend in _CYRUS_BACKENDS:
        if reason.startswith(text):
            return backend
    return None


@register
class SaslBackendDown(Rule):
    id = "SAS001"
    name = "sasl-backend-down"
    title = "SMTP AUTH backend unavailable (Dovecot auth socket, saslauthd)"
    category = "sasl"
    severity = "error"
    preview = True
    kinds = ("sasl_misc", "sasl_failure", "fatal")
    count_unit = "backend failure lines (socket connects, Cyrus SASL checker errors); key = the socket or checker"
    what = """smtpd could not reach the program that checks passwords for SMTP AUTH: with
    `smtpd_sasl_type = dovecot` the Dovecot auth socket (`SASL: Connect to Dovecot auth socket
    'private/auth' failed: No such file or directory`, then `fatal: no SASL authentication
    mechanisms` and master throttling the service); with Cyrus SASL and `pwcheck_method:
    saslauthd` the saslauthd socket (`SASL authentication failure: cannot connect to saslauthd
    server: ...`, and each AUTH then fails with `generic failure`). Also `Connection lost to
    authentication server` (Dovecot went away mid-session) and Cyrus auxprop/sasldb errors.
    SEC001 (password guessing) leaves out the AUTH failures this rule explains when both fire;
    a host-path socket missing inside the chroot is CHR003's, and this rule leaves it to it."""
    why = """Nobody can authenticate, whatever their password: mail clients on the submission port
    are refused (535 5.7.8) or cut off, and users keep retrying. It is not an attack: rate-limiting
    AUTH or a fail2ban jail on these lines would ban your own users."""
    example = (
        "Dec 01 22:18:18 mail postfix/submission/smtpd[26030]: warning: SASL: Connect to Dovecot auth socket 'private/auth' failed: No such file or directory",
        "Dec 01 22:18:18 mail postfix/submission/smtpd[26030]: fatal: no SASL authentication mechanisms",
        "Dec 01 22:20:22 mail postfix/submission/smtpd[27976]: warning: SASL authentication failure: cannot connect to saslauthd server: No such file or directory",
        "Dec 01 22:20:22 mail postfix/submission/smtpd[27976]: warning: localhost[127.0.0.1]: SASL PLAIN authentication failed: generic failure, sasl_username=alice",
    )
    fix = """Start the backend and make its socket appear where smtpd looks for it. Dovecot: `systemctl
    start dovecot`, and a `service auth { unix_listener /var/spool/postfix/private/auth { mode =
    0660 user = postfix group = postfix } }` block so that `smtpd_sasl_path = private/auth` (relative
    to the queue directory, inside the chroot) exists. saslauthd: `systemctl start saslauthd`; on
    Debian a chrooted smtpd looks for /var/spool/postfix/var/run/saslauthd/mux, so point saslauthd
    there (OPTIONS="-c -m /var/spool/postfix/var/run/saslauthd" in /etc/default/saslauthd) and add
    the postfix user to the sasl group."""
    remediation = (
        "Is the backend running? `systemctl status dovecot` (or `saslauthd`); start it and enable it at boot.",
        "Does the socket exist where smtpd looks? `ls -l /var/spool/postfix/private/auth` for Dovecot "
        "(smtpd_sasl_path is relative to the queue directory when smtpd is chrooted), "
        "`ls -l /var/spool/postfix/var/run/saslauthd/mux` for saslauthd on Debian.",
        "Test the backend without Postfix: `doveadm auth test USER` (Dovecot) or `testsaslauthd -u USER -p PASS` "
        "(saslauthd), then send a test AUTH on the submission port.",
        "Do not ban the clients of these failures (fail2ban, smtpd_client_auth_rate_limit): they had the right password.",
    )
    parameters = (
        ("smtpd_sasl_type", "cyrus", "SASL implementation smtpd uses (cyrus or dovecot)"),
        ("smtpd_sasl_path", "smtpd", "Dovecot: the auth socket, relative to the queue directory; Cyrus: the config name (smtpd.conf)"),
        ("smtpd_sasl_auth_enable", "no", "offer SMTP AUTH"),
        ("cyrus_sasl_config_path", "(empty)", "where Cyrus SASL looks for smtpd.conf (pwcheck_method, saslauthd_path)"),
    )
    references = ("SASL_README: Configuring Dovecot SASL", "SASL_README: Cyrus SASL configuration for the Postfix SMTP server",
                  "SASL_README: Using saslauthd")
    defers_to = ("CHR003",)

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.backends: dict[str, Group] = {}  # socket or checker -> its failure lines
        self.kind_of: dict[str, str] = {}  # that key -> DOVECOT or CYRUS
        self.attempts = {DOVECOT: self.group(), CYRUS: self.group()}  # AUTH that failed for it
        self.users = {DOVECOT: FirstSeenCounter(), CYRUS: FirstSeenCounter()}
        self.no_mechanisms = self.group()  # smtpd's "fatal: no SASL authentication mechanisms"

    def feed(self, ev):
        kind = ev.kind
        if kind == "sasl_failure":
            if not backend_failure(ev):
                return None
            reason = ev.f.get("reason") or ""
            family = DOVECOT if reason.startswith(_DOVECOT_REASONS) else CYRUS
            self.attempts[family].add(ev)
            user = reason.partition("sasl_username=")[2]
            if user:
                self.users[family].add(user, at=place(ev))
            return True
        if kind == "fatal":
            if ev.program == "smtpd" and ev.text.startswith(NO_MECHANISMS):
                self.no_mechanisms.add(ev)
                return True
            return None
        if ev.program != "smtpd":
            return None
        socket = ev.f.get("socket")
        if socket and (ev.f.get("what") or "").startswith("SASL: Connect to"):
            self._backend(socket, DOVECOT, ev)
            return True
        if (ev.f.get("what") or "").startswith("SASL: "):  # handshake and protocol errors
            self._backend(DOVECOT, DOVECOT, ev)
            return True
        what = ev.f.get("what") or ""
        if what.startswith(("xsasl_cyrus_server_get_mechanism_list", "SASL per-process initialization failed")):
            self._backend(MECHANISMS, MECHANISMS, ev)  # Cyrus SASL offers no mechanism at all
            return True
        backend = _cyrus_backend(ev.f.get("reason") or "")
        if backend is not None:
            self._backend(backend, CYRUS, ev)
            return True
        return None

    def _backend(self, key: str, family: str, ev) -> None:
        if key not in self.backends and len(self.backends) >= 100:
            key = OTHER
        g = group_in(self.backends, key, self.group, 100)
        self.kind_of.setdefault(key, family)
        g.add(ev)
        g.tally("by_reason", ev.f.get("reason"))
        g.tally("by_service", ev.service)

    def merge(self, later):
        for key, family in later.kind_of.items():
            self.kind_of.setdefault(key, family)
        merge_groups(self.backends, later.backends)
        for family in (DOVECOT, CYRUS):
            self.attempts[family].merge(later.attempts[family])
            self.users[family].merge(later.users[family])
        self.no_mechanisms.merge(later.no_mechanisms)

    def finish(self, queued, end_ts):
        # One finding per backend; the AUTH attempts that failed for want of a backend, and
        # smtpd's exits for want of mechanisms, go with the first backend of their kind (or make
        # a finding of their own when the log names no backend).
        homes: dict[str, str] = {}
        for key, family in self.kind_of.items():
            homes.setdefault(family, key)
        for family in (DOVECOT, CYRUS):
            if self.attempts[family].count:
                homes.setdefault(family, family)
        if self.no_mechanisms.count and DOVECOT not in homes and CYRUS not in homes:
            homes[MECHANISMS] = MECHANISMS
        keys = list(self.backends) + [k for k in homes.values() if k not in self.backends]
        out = []
        for key in keys:
            family = self.kind_of.get(key) or (key if key in (DOVECOT, CYRUS) else MECHANISMS)
            g = self.group()
            if key in self.backends:
                g.merge(self.backends[key])
            home = homes.get(family) == key
            attempts = self.attempts[family].count if home and family in self.attempts else 0
            if attempts:
                _absorb(g, self.attempts[family], count=not g.count)
            fatals = 0
            if home and family in (DOVECOT, MECHANISMS) or family == MECHANISMS:
                fatals = self.no_mechanisms.count
                if fatals:
                    _absorb(g, self.no_mechanisms, count=not g.count)
            evidence = {"backend": key,
                        "implementation": {DOVECOT: "dovecot", CYRUS: "cyrus"}.get(family, "unknown"),
                        "by_reason": g.breakdown("by_reason"), "by_service": g.breakdown("by_service"),
                        "failed_auth_attempts": attempts,
                        "users_refused": self.users[family].top() if attempts else [],
                        "smtpd_exits_no_mechanisms": fatals}
            out.append(self.make(g, self._summary(key, family, g, evidence), key=key, evidence=evidence,
                                 remediation=self._steps(family)))
        return out

    @staticmethod
    def _summary(key, family, g, ev) -> str:
        if family == MECHANISMS:
            return (f"smtpd stopped {plural(g.count, 'time')} with `{NO_MECHANISMS}`: the SASL library offers no "
                    f"mechanism (Cyrus: plugins such as libsasl2-modules missing, or mech_list in smtpd.conf).")
        what = "the Dovecot auth socket " + key if family == DOVECOT and key != DOVECOT else (
            "saslauthd" if key == "saslauthd" else f"the {key} password checker")
        tail = []
        if ev["failed_auth_attempts"]:
            tail.append(f"{plural(ev['failed_auth_attempts'], 'AUTH attempt')} failed because of it")
        if ev["smtpd_exits_no_mechanisms"]:
            tail.append(f"smtpd exited {plural(ev['smtpd_exits_no_mechanisms'], 'time')} with no SASL mechanisms")
        return (f"{plural(g.count, 'line')}: smtpd could not reach {what}"
                + (f"; {', '.join(tail)}" if tail else "") + ": not wrong passwords, nobody can log in.")

    def _steps(self, family):
        steps = list(self.remediation)
        if family == CYRUS:
            steps[0] = "Is saslauthd running? `systemctl status saslauthd`; start it and enable it at boot (on Debian START=yes in /etc/default/saslauthd)."
        elif family == MECHANISMS:
            steps = ["Install the SASL mechanism plugins: `apt-get install libsasl2-modules` (PLAIN, LOGIN), "
                     "and check mech_list in the smtpd.conf that cyrus_sasl_config_path points to.",
                     "Or use Dovecot SASL: `postconf -e 'smtpd_sasl_type = dovecot' 'smtpd_sasl_path = private/auth'` "
                     "with Dovecot's auth socket at /var/spool/postfix/private/auth.",
                     "`postfix reload`, then test AUTH on the submission port."]
        return steps

    def defer(self, finding, owners):
        """A socket CHR003 explains (a host path missing inside the chroot) is its finding."""
        for o in owners:
            if any(finding.key == k or str(k).endswith("/" + str(finding.key).lstrip("/"))
                   for k, _ in o.evidence.get("by_socket", [])):
                return None
        return finding


def _absorb(g: Group, other: Group, count: bool) -> None:
    """Add ``other``'s time span, daemon severity and samples to ``g`` (its count too if
    ``count``), leaving ``other`` as it is."""
    part = Group(other.max_samples)
    part.count = other.count if count else 0
    part.first, part.last, part.worst, part.samples = other.first, other.last, other.worst, list(other.samples)
    g.merge(part)


# --- the SMTP client side ---------------------------------------------------------------------

CLIENT_FAILED = ("SASL authentication failed", "SASL [CACHED] authentication failed")
_GMAIL_XOAUTH = re.compile(r"\b334 (eyJ[A-Za-z0-9+/=]{8,400})")  # base64 of '{"status":...' (bounded)

# (cause, what it means): the first that fits a delivery reason names the finding's cause.
CLIENT_CAUSES = {
    "no mechanism available": "no SASL mechanism the client may use: the Cyrus SASL plugins are not installed "
                              "(Debian: libsasl2-modules), or smtp_sasl_security_options (noplaintext, "
                              "noanonymous) or smtp_sasl_mechanism_filter excludes every mechanism the server offers",
    "mechanism filter": "smtp_sasl_mechanism_filter excludes every AUTH mechanism the server offers",
    "connection security": "the server offers no mechanism allowed on this connection: plaintext mechanisms "
                           "without TLS are refused by smtp_sasl_security_options (use TLS to the relay, "
                           "smtp_sasl_tls_security_options applies then)",
    "app password required": "the provider wants an app password (2-step verification is on): Gmail 534 5.7.9",
    "web login required": "the provider wants an interactive login first: Gmail 534 5.7.14",
    "smtp auth disabled": "SMTP AUTH is disabled for the tenant or the mailbox: Microsoft 365 5.7.139",
    "oauth token": "the XOAUTH2/OAUTHBEARER token was refused (expired, or without the mail scope the "
                   "provider names)",
    "bad credentials": "the server refused the user name or password (535): a wrong entry in "
                       "smtp_sasl_password_maps, a map not rebuilt with postmap, or a key that does not "
                       "match the relayhost exactly",
    "too many attempts": "the server limits login attempts; it refuses for a while",
    "protocol loop": "the authentication exchange did not end (a server bug or a mechanism mismatch)",
    "server error": "the server's authentication failed on its side (454/4xx)",
    "other": "the server refused authentication",
}


def client_cause(reason: str) -> str:
    """The cause of a relayhost authentication failure, from the delivery reason (which starts
    with Postfix's own ``SASL authentication failed``; the rest is the server's reply)."""
    r = reason
    if "no mechanism available" in r:
        return "no mechanism available"
    if "offered no compatible authentication mechanisms" in r:
        return "connection security"
    if "authentication protocol loop" in r:
        return "protocol loop"
    said = r.partition(" said: ")[2]
    if not said:
        return "other"
    if "5.7.9" in said and "pplication-specific password" in said:
        return "app password required"
    if "5.7.14" in said:
        return "web login required"
    if "SmtpClientAuthentication is disabled" in said or "basic authentication is disabled" in said.lower():
        return "smtp auth disabled"
    if _GMAIL_XOAUTH.search(said) or "invalid_token" in said or "invalid_grant" in said:
        return "oauth token"
    if "Too many" in said or "too many" in said:
        return "too many attempts"
    if said.startswith("535") or " 5.7.8" in said or "5.7.3 " in said or said.startswith("5.7.139"):
        return "bad credentials"
    if said[:1] == "4":
        return "server error"
    return "other"


def oauth_detail(reason: str) -> dict | None:
    """The JSON a provider sends back in a ``334`` challenge after a refused XOAUTH2 token
    (Gmail: {"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}), decoded; None
    if the reply has none or it does not decode."""
    m = _GMAIL_XOAUTH.search(reason)
    if m is None:
        return None
    try:
        text = m.group(1).rstrip("=")
        data = json.loads(base64.b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    return {k: str(v)[:200] for k, v in list(data.items())[:5]}


@register
class RelayAuthFailed(Rule):
    id = "SAS002"
    name = "relayhost-auth-failed"
    title = "The SMTP client cannot authenticate to the relayhost/smarthost"
    category = "sasl"
    severity = "error"
    preview = True
    kinds = ("delivery", "sasl_misc", "smtp_misc")
    delivery_statuses = ("deferred", "bounced")
    message_kinds = ("delivery",)
    count_unit = "messages that failed authentication, per server (key = relay as logged)"
    what = """Postfix's SMTP client (smtp_sasl_auth_enable = yes) could not log in to the server it
    relays through: `SASL authentication failed; server relay[IP] said: 535 5.7.8 ...` (the server
    refused the user name or password), `SASL authentication failed; cannot authenticate to server
    ...: no mechanism available` with Cyrus SASL's `SASL authentication failure: No worthy mechs
    found` (no mechanism the client may use: plugins missing or security options), `server ...
    offered no compatible authentication mechanisms for this type of connection security`, or
    `offered no supported AUTH mechanisms` (smtp_sasl_mechanism_filter). Provider replies are named:
    Gmail app passwords (534 5.7.9) and web login (534 5.7.14), Microsoft 365 SMTP AUTH disabled
    (5.7.139), refused XOAUTH2 tokens (the scope the provider asks for is decoded). One finding per
    server. DLV001 counts the same messages as deferred with the cause `relayhost authentication`."""
    why = """Every message for that relay waits in the queue and bounces after maximal_queue_lifetime;
    retrying changes nothing until the credentials or the SASL setup are fixed. Repeated failed
    logins can also get the account locked by the provider."""
    example = (
        "Dec 01 22:22:54 mail postfix/smtp[30241]: 3875E16209D: to=<user1@example.net>, relay=127.0.0.1[127.0.0.1]:2587, delay=0.08, delays=0.01/0.07/0/0, dsn=4.7.8, status=deferred (SASL authentication failed; server 127.0.0.1[127.0.0.1] said: 535 5.7.8 Error: authentication failed: authentication failure)",
        "Dec 01 22:22:54 mail postfix/smtp[30255]: warning: SASL authentication failure: No worthy mechs found",
        "Dec 01 22:22:54 mail postfix/smtp[30255]: 934BD1620A2: to=<user1@example.org>, relay=127.0.0.1[127.0.0.1]:2588, delay=0.04, delays=0/0.03/0/0, dsn=4.7.0, status=deferred (SASL authentication failed; cannot authenticate to server 127.0.0.1[127.0.0.1]: no mechanism available)",
    )
    fix = """Bad credentials: correct the entry in smtp_sasl_password_maps (its key must be the
    relayhost exactly as written, brackets and port included: `[smtp.example.com]:587`), rebuild it
    with `postmap`, and use an app password where the provider requires one. No mechanism: install
    the SASL plugins (`apt-get install libsasl2-modules`), and check that smtp_sasl_security_options
    and smtp_sasl_mechanism_filter leave a mechanism the server offers (plaintext PLAIN/LOGIN need
    TLS to the relay). Then `postqueue -f`."""
    remediation = (
        "Check the password map entry: `postmap -q '[RELAY]:PORT' hash:/etc/postfix/sasl_passwd` must print "
        "user:password for the relayhost exactly as `postconf -h relayhost` writes it.",
        "After editing the map: `postmap hash:/etc/postfix/sasl_passwd`, then `postqueue -f`.",
        "No mechanism available: `apt-get install libsasl2-modules`; look at `postconf smtp_sasl_security_options "
        "smtp_sasl_tls_security_options smtp_sasl_mechanism_filter` against the server's EHLO AUTH line "
        "(`posttls-finger -c -L summary '[RELAY]:PORT'`).",
        "Provider accounts with 2-step verification need an app password; Microsoft 365 needs SMTP AUTH enabled "
        "for the mailbox; an OAuth token needs the scope the provider names.",
    )
    parameters = (
        ("smtp_sasl_auth_enable", "no", "the SMTP client authenticates"),
        ("smtp_sasl_password_maps", "(empty)", "user:password per relay (key as relayhost writes it) or per sender"),
        ("smtp_sasl_security_options", "noplaintext, noanonymous", "mechanisms refused without TLS"),
        ("smtp_sasl_tls_security_options", "$smtp_sasl_security_options", "mechanisms refused over TLS"),
        ("smtp_sasl_mechanism_filter", "(empty)", "mechanisms the client may use"),
        ("smtp_tls_security_level", "(empty)", "TLS to the relay (plaintext mechanisms need it)"),
    )
    references = ("SASL_README: Enabling SASL authentication in the Postfix SMTP/LMTP client",
                  "SASL_README: Postfix SMTP/LMTP client policy - SASL mechanism properties",
                  "STANDARD_CONFIGURATION_README: Postfix on hosts without a real Internet hostname")

    def __init__(self, max_samples: int = 5):
        super().__init__(max_samples)
        self.servers: dict[str, Group] = {}  # relay -> its failed messages
        self.no_worthy = self.group()  # Cyrus SASL's "No worthy mechs found" (no relay named)
        self.filtered = self.group()  # "offered no supported AUTH mechanisms" (mechanism filter)

    def feed(self, ev):
        kind = ev.kind
        if kind == "delivery":
            if not (ev.f.get("reason") or "").startswith(CLIENT_FAILED):
                return None
            g = self._server(ev.f.get("relay") or "none")
            g.see(ev)
            g.tally("by_cause", client_cause(ev.f.get("reason") or ""))
            return True
        if ev.program not in ("smtp", "lmtp"):
            return None
        if kind == "sasl_misc":
            reason = ev.f.get("reason") or ""
            if ev.f.get("mechanisms") is not None:
                self.filtered.add(ev)
                self.filtered.tally("by_server", ev.f.get("server"))
                return True
            if reason.startswith(("No worthy mechs found", "no mechanism available")):
                self.no_worthy.add(ev)
                return True
            return None
        if kind == "smtp_misc" and (ev.f.get("detail") or "").startswith("SASL authentication failed"):
            g = self._server(f"{ev.f.get('relay_host')}[{ev.f.get('relay_ip')}]")
            g.see(ev)
            return True
        return None

    def _server(self, relay: str) -> Group:
        return group_in(self.servers, relay, self.group, 1000)

    def feed_message_line(self, ev, msg):
        if not (ev.f.get("reason") or "").startswith(CLIENT_FAILED):
            return
        relay = ev.f.get("relay") or "none"
        seen = msg.facts.get(self.id)
        if seen is None:
            seen = msg.facts[self.id] = set()
        if relay in seen:
            return
        seen.add(relay)
        self._server(relay).count += 1

    def merge(self, later):
        merge_groups(self.servers, later.servers)
        self.no_worthy.merge(later.no_worthy)
        self.filtered.merge(later.filtered)

    def finish(self, queued, end_ts):
        out = []
        for relay, g in self.servers.items():
            if not g.count:
                continue
            causes = g.breakdown("by_cause")
            top = next(iter(causes), "other")
            evidence = {"server": relay, "by_cause": causes, "meaning": CLIENT_CAUSES.get(top, "")}
            if top in ("no mechanism available", "connection security"):
                evidence["no_worthy_mechs_lines"] = self.no_worthy.count
                for s in self.no_worthy.samples[:1]:
                    g._insert(s)
            if self.filtered.count:
                evidence["mechanism_filter_lines"] = self.filtered.count
            oauth = None
            for s in g.samples:
                oauth = oauth_detail(s.text)
                if oauth:
                    evidence["oauth_reply"] = oauth
                    break
            steps = list(self.remediation)
            if top in ("no mechanism available", "connection security", "mechanism filter"):
                steps.insert(0, steps.pop(2))
            out.append(self.make(
                g, f"{plural(g.count, 'message')} could not be sent through {relay}: {top} "
                   f"({CLIENT_CAUSES.get(top, '')}).",
                key=relay, evidence=evidence, remediation=steps))
        return out
