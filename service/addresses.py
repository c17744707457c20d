"""Submitters' IP addresses as stored: a full address, or a truncated network.

A comment keeps its sender's full address for a while (moderators ban and
trace with it); retention then truncates it to its network, IPv4 to /24 and
IPv6 to /48, stored in CIDR form (``203.0.113.0/24``) so that nobody mistakes
it for one machine. Isso stores addresses already cut that way; imports keep
them in the same form. Bans and the dashboard's IP history treat both forms.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

TRUNCATED_PREFIX = {4: 24, 6: 48}


def parse_address(value: str) -> IPAddress | None:
    """A single address (IPv4-mapped IPv6 read as IPv4), or None if it is none."""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def stored_network(value: str | None) -> IPNetwork | None:
    """What a stored ``remote_addr`` covers: one address (/32, /128) or a truncated network."""
    if not value:
        return None
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


def is_truncated(value: str | None) -> bool:
    return bool(value) and "/" in (value or "")


def truncate(value: str | None) -> str | None:
    """The address cut to its /24 (IPv4) or /48 (IPv6) network; None if it is no address."""
    network = stored_network(value)
    if network is None:
        return None
    prefix = min(network.prefixlen, TRUNCATED_PREFIX[network.version])
    return str(network.supernet(new_prefix=prefix))


def normalise(value: str | None) -> str | None:
    """A full address in canonical form, a network kept in CIDR form, else None."""
    if not value:
        return None
    if "/" in value:
        network = stored_network(value)
        if network is None or network.prefixlen == network.max_prefixlen:
            return str(network.network_address) if network is not None else None
        return str(network)
    address = parse_address(value)
    return str(address) if address is not None else None


def covers(network: IPNetwork, stored: str | None) -> bool:
    """Whether everything a stored address stands for lies inside ``network``."""
    own = stored_network(stored)
    return own is not None and own.version == network.version and own.subnet_of(network)  # type: ignore[arg-type]
