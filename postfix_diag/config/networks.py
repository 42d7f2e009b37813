"""Match a client address against a Postfix network list (mynetworks and the like).

Postfix's match lists (match_list(3), postconf(5) mynetworks): items are ``a.b.c.d``,
``a.b.c.d/len``, ``[ipv6]``, ``[ipv6]/len`` (the brackets are optional in a list since Postfix 2.8),
``!item`` (negation), ``/file/name`` and ``type:table`` (contents not readable here) and host or
domain names (need DNS). The first item that matches decides. The answer is three-valued: True,
False, or None when an item this tool cannot evaluate comes first and could change it.
"""

from __future__ import annotations

import ipaddress

from .syntax import split_quoted


def parse_ip(text: str):
    """An ipaddress object for ``1.2.3.4``, ``[::1]``, ``::ffff:1.2.3.4`` (as IPv4), else None."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if "%" in text:  # a scoped IPv6 address
        text = text.split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def parse_network(item: str):
    """An ip_network for one list item (``[::1]/128``, ``127.0.0.0/8``, ``10.1.2.3``), else None."""
    text = item.strip()
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            return None
        addr, rest = text[1:close], text[close + 1:]
        if rest and not rest.startswith("/"):
            return None
        text = addr + rest
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    if isinstance(net, ipaddress.IPv6Network) and net.network_address.ipv4_mapped is not None \
            and net.prefixlen >= 96:
        mapped = net.network_address.ipv4_mapped
        return ipaddress.ip_network(f"{mapped}/{net.prefixlen - 96}", strict=False)
    return net


def match_networks(ip_text: str, value: str):
    """True/False/None: does ``ip_text`` match the network list ``value`` (already expanded)?"""
    ip = parse_ip(ip_text)
    if ip is None:
        return None
    possible = set()  # outcomes that an earlier, unevaluated item could have produced
    for raw in split_quoted(value):
        negate = raw.startswith("!")
        item = raw[1:] if negate else raw
        net = parse_network(item)
        if net is None:
            possible.add(not negate)  # a table, file, hostname or unexpanded $name: unknown
            continue
        if ip.version == net.version and ip in net:
            outcome = not negate
            return outcome if not (possible - {outcome}) else None
    return None if possible else False
