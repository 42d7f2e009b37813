"""What Postfix assumes when the configuration says nothing.

- Parameter defaults: ``defaults.cf`` beside this module, the ``postconf -d`` output of Debian 12's
  Postfix 3.7 package (written by tools/config_defaults.py), read with the main.cf grammar. Defaults
  that Postfix computes on the host (`HOST_DEPENDENT`) are not in it: for another server's log the
  tool cannot know them, so they expand to themselves (``$myhostname``) and count as unknown.
- master.cf field defaults for ``-``: master(5) and src/master/master_ent.c of Postfix 3.7:
  private y, unpriv y, chroot y below compatibility_level 1 and n from 1 on (Postfix >= 3.0),
  wakeup 0, maxproc $default_process_limit. Debian changes none of these built-in defaults; its
  master.cf writes ``y``/``n`` explicitly in the chroot column of most services (and its main.cf
  sets compatibility_level = 3.6), which is why a Debian server still runs chrooted.
- Which parameters hold lists (safe fixes add to them, never replace them).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

# Defaults Postfix computes at run time on its own host (postconf -d shows the local machine's).
HOST_DEPENDENT = frozenset({
    "myhostname", "mydomain", "mynetworks", "process_id", "process_name",
})

# master.cf columns: name in master.cf comments, name in `postconf -F`, default for "-".
MASTER_FIELDS = (
    ("service", "service", None),
    ("type", "type", None),
    ("private", "private", "y"),
    ("unpriv", "unprivileged", "y"),
    ("chroot", "chroot", None),  # compatibility_level < 1: y, else n (master_ent.c)
    ("wakeup", "wakeup", "0"),
    ("maxproc", "process_limit", None),  # $default_process_limit
    ("command", "command", None),
)
FP_NAMES = {col: fp for col, fp, _ in MASTER_FIELDS}  # maxproc -> process_limit
COLUMN_NAMES = {fp: col for col, fp, _ in MASTER_FIELDS}  # process_limit -> maxproc

# Lookup table types (dict_open.c and Debian's dynamically loaded map types), for maps().
TABLE_TYPES = frozenset({
    "btree", "cdb", "cidr", "dbm", "environ", "fail", "hash", "inline", "internal", "ldap", "lmdb",
    "memcache", "mongodb", "mysql", "netinfo", "nis", "nisplus", "pcre", "pgsql", "pipemap", "proxy",
    "randmap", "regexp", "sdbm", "socketmap", "sqlite", "static", "tcp", "texthash", "union", "unix",
})

# List-valued parameters: by name suffix, and by name (postconf(5) describes these as lists).
LIST_SUFFIXES = (
    "_maps", "_restrictions", "_domains", "_networks", "_milters", "_interfaces", "_classes",
    "_chain_files", "_exceptions", "_sites", "_checks", "_access_list", "_peer_list", "_clients",
    "_macros", "_keywords", "_mechanism_filter", "_security_options", "_protocols", "_exclude_ciphers",
    "_host_lookup", "_environment", "_users", "_dnsbl_reply_map", "_lookup",
)
LIST_NAMES = frozenset({
    "mydestination", "mynetworks", "alias_database", "notify_classes", "masquerade_domains",
    "masquerade_exceptions", "propagate_unmatched_extensions", "smtpd_sasl_exceptions_networks",
    "debug_peer_list", "fast_flush_domains", "inet_interfaces", "proxy_interfaces",
    "smtpd_discard_ehlo_keywords", "smtpd_command_filter", "smtpd_forbidden_commands",
    "smtpd_noop_commands", "authorized_verp_clients", "import_environment", "export_environment",
    "postscreen_dnsbl_sites", "tls_session_ticket_cipher", "smtpd_tls_chain_files", "smtp_tls_chain_files",
    "header_checks", "mime_header_checks", "nested_header_checks", "body_checks",
    "smtpd_client_event_limit_exceptions", "local_header_rewrite_clients", "content_filter_exceptions",
})
# Parameters whose value is one item even though the name ends like a list (a map path, a text).
SCALAR_NAMES = frozenset({
    "smtpd_sasl_path", "smtp_sasl_path", "relayhost", "content_filter", "default_transport",
    "relay_transport", "local_transport", "virtual_transport", "smtpd_banner", "maillog_file",
    "postscreen_cache_map", "address_verify_map", "smtp_sasl_auth_cache_name", "smtpd_proxy_filter",
})


def is_list(name: str) -> bool:
    """Whether a parameter's value is a list of items (whitespace and/or comma separated)."""
    if name in SCALAR_NAMES:
        return False
    return name in LIST_NAMES or name.endswith(LIST_SUFFIXES)


def defaults_text() -> bytes:
    try:
        return resources.files("postfix_diag.config").joinpath("defaults.cf").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, TypeError):  # pragma: no cover
        return Path(__file__).with_name("defaults.cf").read_bytes()


@lru_cache(maxsize=1)
def builtin() -> dict[str, str]:
    """{name: raw default value} from defaults.cf (read once per process)."""
    from .syntax import MAIN, parse_bytes

    parsed = parse_bytes(defaults_text(), "defaults.cf", MAIN)
    if parsed.problems:  # pragma: no cover - a test reads the shipped file
        raise ValueError("; ".join(map(str, parsed.problems)))
    return {e.fields["name"]: e.fields["value"] for e in parsed.entries}


def version() -> str:
    """The Postfix version the defaults were taken from (mail_version in defaults.cf)."""
    return builtin().get("mail_version", "?")
