"""The families of rules (their categories) as incidents: how long a quiet log ends an incident
of the family, and whether its faults last until a sign of recovery. docs/incidents.md lists
them (families_markdown); ``--quiet-gap CATEGORY=DURATION`` replaces a gap."""

from __future__ import annotations

from dataclasses import dataclass

from ..model import duration


@dataclass(frozen=True)
class Family:
    gap: float  # seconds of silence that end an incident
    persists: bool  # the fault lasts until a sign of recovery, however quiet the log
    why: str


# The families of rules (their categories) and their defaults; docs/incidents.md lists them.
FAMILIES: dict[str, Family] = {
    "delivery": Family(4000, True, "maximal_backoff_time: a destination still down is retried at least that often"),
    "queue": Family(86400, True, "mail stays queued until something delivers it"),
    "chroot": Family(86400, True, "a broken jail stays broken until it is repaired and Postfix restarted"),
    "config": Family(86400, True, "a configuration mistake stays until the configuration changes"),
    "resources": Family(3600, False, "a full disk or memory shortage shows again within the hour while it lasts"),
    "tls": Family(3600, False, "handshake failures come with clients; setup errors at each daemon start"),
    "dns": Family(3600, False, "lookups fail with each connection while the resolver is broken"),
    "milter": Family(600, False, "milter failures come with every SMTP connection"),
    "process-limit": Family(600, False, "a service at its limit warns again within minutes"),
    "error-limit": Family(600, False, "an attacking client returns within minutes"),
    "security": Family(600, False, "an attacking client returns within minutes"),
    "sasl": Family(600, False, "password guessing returns within minutes"),
    "postscreen": Family(600, False, "blocked clients return within minutes"),
    "connection": Family(600, False, "broken clients return within minutes"),
    "other": Family(3600, False, "warnings of the same kind within the hour belong together"),
}
DEFAULT_FAMILY = FAMILIES["other"]


def family(category: str) -> Family:
    return FAMILIES.get(category, DEFAULT_FAMILY)


def families_markdown() -> str:
    """The table of families and their defaults in docs/incidents.md (a test keeps it current)."""
    out = ["| family (category) | quiet gap | lasts until a sign of recovery | why |", "|---|---|---|---|"]
    for name, fam in FAMILIES.items():
        out.append(f"| `{name}` | {int(fam.gap)} s ({duration(fam.gap)}) | {'yes' if fam.persists else 'no'} "
                   f"| {fam.why} |")
    return "\n".join(out) + "\n"


