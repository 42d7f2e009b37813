"""summary.cause(): a reason reduced to what groups it. cause() skips each substitution whose
pattern cannot match and squeezes whitespace with str.split(); these cases pin its results (they
are the results of the plain version that ran every substitution and re.sub(r"\\s+", " "))."""

from __future__ import annotations

import pytest

from postfix_diag import summary as S

CASES = [
    ("host mx.example.com[192.0.2.5] said: 550 5.1.1 <bob@example.com>: Recipient address rejected: "
     "User unknown (in reply to RCPT TO command)",
     "550 5.1.1 Recipient address rejected: User unknown (in reply to RCPT TO)"),
    ("connect to mx.example.com[192.0.2.5]:25: Connection timed out", "connect to HOST: Connection timed out"),
    ("Client host rejected: cannot find your hostname, [203.0.113.9]",
     "Client host rejected: cannot find your hostname,"),
    ("Service unavailable; Client host [203.0.113.9] blocked using zen.spamhaus.org; "
     "https://www.spamhaus.org/query/ip/203.0.113.9",
     "Service unavailable; Client host blocked using zen.spamhaus.org"),
    ("Host or domain name not found. Name service error for name=example.com type=MX: Host not found, try again",
     "Host or domain name not found. Name service error for name=… type=MX: Host not found, try again"),
    ("250 2.0.0 Ok: queued as 4ABC123", "250 2.0.0 Ok: queued as …"),
    ("lost connection with mx[2001:db8::25] while sending RCPT TO", "lost connection with HOST while sending RCPT TO"),
    ("delivery temporarily suspended: connect to [IPv6:2001:db8::1]:25: Network is unreachable",
     "delivery temporarily suspended: connect to:25: Network is unreachable"),
    # whitespace as re's \s sees it: tabs, runs, no-break and ideographic spaces, separators
    ("tab\tand  double  spaces\u00a0and\u3000wide\x1cseparator ", "tab and double spaces and wide separator"),
    # "said:" only counts on the first line (no re.S)
    ("first line\nhost x said: second line", "first line host x said: second line"),
    ("  padded reason  ", "padded reason"),
    ("warning: " + "x" * 130, "warning: " + "x" * 100 + "…"),
    ("no markers at all", "no markers at all"),
    ("", ""),
    (None, ""),
]


@pytest.mark.parametrize(("reason", "expected"), CASES)
def test_cause(reason, expected):
    assert S.cause(reason) == expected
    assert S._cause(reason) == expected  # the cached one used by flush
