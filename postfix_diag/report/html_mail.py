"""The daily report as an e-mail: multipart/alternative with the text report (what a terminal
or a plain-text mail reader shows) and the HTML report (report/html_report.py), built with
email.message.EmailMessage for ``sendmail -t -i``. Reads the model only (model.Analysis)."""

from __future__ import annotations

import socket
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from ..model import ONGOING
from .escape import terminal
from .html_report import render as render_html
from .text_report import render as render_text


def subject(analysis) -> str:
    """``postfix-diag: mail.example.net: 2 incidents (1 ongoing), 3 findings (most severe: error),
    2025-12-01 .. 2025-12-02``: the hosts of the log (or this machine's name), the incidents and
    how many are still ongoing at the end of the log, the findings and the worst severity, the
    days."""
    hosts = sorted({f.host for f in analysis.findings if f.host})
    where = ", ".join(hosts[:3]) + (" ..." if len(hosts) > 3 else "") if hosts else socket.gethostname()
    n = len(analysis.findings)
    worst = f" (most severe: {analysis.findings[0].severity})" if n else ""
    span = analysis.coverage.as_dict(0)["time_span"]
    days = ""
    if span.get("first"):
        first, last = span["first"][:10], span["last"][:10]
        days = f", {first}" + (f" .. {last}" if last != first else "")
    incidents = analysis.incidents
    ongoing = sum(1 for inc in incidents if inc.state == ONGOING)
    counted = (f"{len(incidents)} incident{'' if len(incidents) == 1 else 's'} ({ongoing} ongoing), "
               if incidents else "")
    text = f"postfix-diag: {where}: {counted}{n} finding{'' if n == 1 else 's'}{worst}{days}"
    return " ".join(terminal(text).split())  # one line: nothing from the log can add a header


def message(analysis, to: list[str], sender: str | None = None, top: int = 10) -> EmailMessage:
    """The report as a multipart/alternative message to ``to`` (text first, HTML preferred)."""
    msg = EmailMessage()
    msg["Subject"] = subject(analysis)
    if to:
        msg["To"] = ", ".join(to)
    if sender:
        msg["From"] = sender
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid("postfix-diag")
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a report
    msg["X-Mailer"] = "postfix-diag"
    msg.set_content(render_text(analysis, top=top), subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(render_html(analysis, top=top), subtype="html", charset="utf-8", cte="quoted-printable")
    return msg
