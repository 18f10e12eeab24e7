"""SSRF guard for outgoing webhook requests: which URLs a webhook may target.

`check_url` validates a URL and resolves its host; every address must be
public: private, loopback, link-local, unique-local, CGNAT, multicast and
unspecified addresses are refused unless `allow_private`
(LOANGRAPH_WEBHOOK_ALLOW_PRIVATE) is set; cloud metadata addresses
(169.254.169.254, fd00:ec2::254, ...) are always refused. https is required,
except plain http to a loopback address when private targets are allowed.

It runs at registration (`services.webhooks.register_webhook`) and again before
every delivery attempt (`events.webhooks.deliverer`), and the request is sent
to the address that was checked (`Target.pinned_url`; the hostname travels in
Host and in TLS SNI), so DNS rebinding cannot redirect it. It lives in `core/`
so that both layers import it and neither imports the other for it.

Blocking (DNS): call `check_url` in a thread (`core.db.run_db`)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_address("fd00:ec2::254"),  # AWS IMDS over IPv6
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
}


class UnsafeURL(ValueError):
    """The webhook URL is not allowed (scheme, host or the addresses it resolves to).

    `str(exc)` is safe to show the caller; `detail` (server logs only) may hold
    what the server's resolver answered, which callers never see: a named host
    that does not resolve, resolves to a private address or to a metadata address
    gets the same message, so registration cannot be used to map internal DNS."""

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail or message


# The one message for every refusal that depends on the server's DNS answers.
UNREACHABLE_HOST = "the host does not resolve to a public address that webhooks may reach"


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]

    def pinned_url(self) -> httpx.URL:
        """The URL with the checked address instead of the host name."""
        return httpx.URL(self.url).copy_with(host=self.addresses[0])


def _normalize(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
    return ip


def classify(address: str) -> str:
    """'metadata', 'loopback', 'private' (non-public of any kind) or 'public'."""
    ip = _normalize(ipaddress.ip_address(address.split("%", 1)[0]))
    if ip in METADATA_ADDRESSES:
        return "metadata"
    if ip.is_unspecified or ip.is_multicast:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if (
        ip.is_private
        or ip.is_link_local
        or ip.is_reserved
        or not ip.is_global
        or (isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"))
    ):
        return "private"
    return "public"


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeURL(UNREACHABLE_HOST, f"host {host!r} does not resolve ({exc})") from None
    out: list[str] = []
    for info in infos:
        addr = str(info[4][0])
        if addr not in out:
            out.append(addr)
    if not out:
        raise UnsafeURL(UNREACHABLE_HOST, f"host {host!r} does not resolve")
    return out


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def check_url(url: str, *, allow_private: bool) -> Target:
    """Validate a webhook URL and resolve it (blocking DNS: call it in a thread)."""
    if not isinstance(url, str) or not url or len(url) > 2048:
        raise UnsafeURL("URL must be 1-2048 characters")
    if any(c.isspace() for c in url):
        raise UnsafeURL("URL must not contain whitespace")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"malformed URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise UnsafeURL("URL must use https")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("URL must not contain credentials")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeURL("URL needs a host")
    if parts.fragment:
        raise UnsafeURL("URL must not contain a fragment")
    port = port or (443 if scheme == "https" else 80)
    addresses = resolve(host, port)
    kinds = {a: classify(a) for a in addresses}
    literal = _is_ip_literal(host)
    for addr, kind in kinds.items():
        if kind in ("metadata", "unspecified") or (
            kind in ("loopback", "private") and not allow_private
        ):
            detail = f"{host} resolves to {addr}, a {kind} address: refused"
            # An address the caller typed may be named; a name's DNS answer may not.
            raise UnsafeURL(
                f"{host} is a {kind} address: refused" if literal else UNREACHABLE_HOST, detail
            )
    if scheme == "http" and not (allow_private and all(k == "loopback" for k in kinds.values())):
        raise UnsafeURL(
            "URL must use https (plain http only to loopback when private targets are allowed)"
        )
    return Target(url=url, scheme=scheme, host=host, port=port, addresses=tuple(addresses))


__all__ = [
    "METADATA_ADDRESSES",
    "UNREACHABLE_HOST",
    "Target",
    "UnsafeURL",
    "check_url",
    "classify",
    "resolve",
]
