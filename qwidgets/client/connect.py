"""Where the client talks to and with which token: a remote service, or the embedded simulator."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from qwidgets.client.errors import AuthenticationError, ValidationError
from qwidgets.client.local import local_server

TOKEN_ENV = "QCOG_API_TOKEN"
# The public client uses plain http for these (its list lacks ::1; ours adds it).
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class Endpoint:
    base_url: str  # ``{proto}://{host}:{port}/api/{api_version}``
    token: str
    embedded: bool  # the process-wide simulator started for this process

    def __repr__(self) -> str:
        return f"Endpoint({self.base_url!r}, embedded={self.embedded})"


def service_url(hostname: str, port: int, api_version: str) -> str:
    """The base URL for a hostname; ``http://host:port`` given as hostname is accepted too."""
    scheme: str | None = None
    if "://" in hostname:
        parts = urlsplit(hostname)
        if not parts.hostname:
            raise ValidationError("hostname", hostname, "must be a host name or http(s) URL")
        scheme, hostname, port = parts.scheme, parts.hostname, parts.port or port
    if not hostname or "/" in hostname:
        raise ValidationError("hostname", hostname, "must be a host name such as "
                              "'dev.qognitive.io' or '127.0.0.1'")
    if not 0 < int(port) < 65536:
        raise ValidationError("port", port, "must be between 1 and 65535")
    host = hostname.strip("[]")
    scheme = scheme or ("http" if host in LOOPBACK else "https")
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{int(port)}/api/{api_version}"


async def resolve(
    token: str | None, hostname: str | None, port: int, api_version: str
) -> Endpoint:
    if hostname is None:
        server = await local_server()
        # QCOG_API_TOKEN belongs to the remote service and must not travel to the simulator.
        return Endpoint(f"{server.url.rstrip('/')}/api/{api_version}", token or server.token,
                        embedded=True)
    token = token if token is not None else os.environ.get(TOKEN_ENV)
    if not token:
        raise AuthenticationError(
            None, f"no API token for {hostname}: pass token=... or set {TOKEN_ENV}")
    return Endpoint(service_url(hostname, port, api_version), token, embedded=False)
