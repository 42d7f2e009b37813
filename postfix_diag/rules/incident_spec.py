"""What a rule says about its findings as incidents: what its key names, what one occurrence
costs, how it recovers, and which other findings it causes. Data, kept on each rule class
(``Rule.incident``), read by postfix_diag/incidents/ and printed by ``explain``.

    incident = IncidentSpec(
        subject="next_hop", unit="deferred", title="next hop {key} down",
        resumed="deliveries to {key} resumed",
        leads_to=(Link("DLV001", within=3600, why="mail for it is deferred"),))
"""

from __future__ import annotations

from dataclasses import dataclass

# What a finding's key can name; the incidents read the matching evidence of the stream for it:
# "client" (an SMTP client address: its rejects and disconnects), "service" (a master.cf service:
# its smtpd sessions over time), "next_hop" and "milter" (signals the rule records itself).
SUBJECTS = ("client", "service", "next_hop", "milter")
# What one occurrence (or one time of a rule's signal) costs, as an incident's impact says it.
IMPACTS = ("deferred", "bounced", "rejected", "tempfailed", "cut_off", "delivered_later", "sessions")
# How a consequence must relate to its cause besides time: "key" (the same key), "mention" (the
# consequence's key names the cause's key as a word: "private/smtp socket" names "smtp").
SAME = ("key", "mention")


@dataclass(frozen=True)
class Link:
    """This rule's incident causes an incident of rule ``effect`` (an ID, or an ID prefix such as
    "QSH") that starts at most ``within`` seconds after this one ends (or while it lasts), and
    not more than a minute before it starts; ``same`` adds a condition on the keys (see SAME)."""

    effect: str
    within: float
    same: str | None = None
    why: str = ""

    def __post_init__(self):
        if self.same is not None and self.same not in SAME:
            raise ValueError(f"Link to {self.effect}: unknown condition same={self.same!r}")


@dataclass(frozen=True)
class IncidentSpec:
    """``subject``: what the finding's key names (SUBJECTS, or None). ``unit``: what one
    occurrence is in the incident's impact (IMPACTS, or None). ``title``: the incident's title,
    with ``{title}`` (the finding's) and ``{key}``. ``resumed``: what the rule's "resumed" signal
    means, with ``{key}`` ("deliveries to {key} resumed"). ``persists``: the fault lasts until a
    sign of recovery, however quiet the log (None: as the category's family says, see
    incidents.FAMILIES). ``gap``: seconds of silence that end an incident (None: the family's).
    ``leads_to``: the incidents this one causes. ``makes_incidents``: False for findings about
    the log itself rather than a fault of the server (a clock jump)."""

    subject: str | None = None
    unit: str | None = None
    title: str = "{title}"
    resumed: str = ""
    persists: bool | None = None
    gap: float | None = None
    leads_to: tuple[Link, ...] = ()
    makes_incidents: bool = True

    def __post_init__(self):
        if self.subject is not None and self.subject not in SUBJECTS:
            raise ValueError(f"unknown incident subject {self.subject!r}")
        if self.unit is not None and self.unit not in IMPACTS:
            raise ValueError(f"unknown incident impact {self.unit!r}")
