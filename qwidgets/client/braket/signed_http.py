"""The transport of the Braket routes: ``HttpClient`` (pooling, retries, coalesced GETs, error
mapping) with every attempt signed by AWS Signature Version 4 instead of a bearer header."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from yarl import URL

from qwidgets.client.errors import UsageError, ValidationError
from qwidgets.client.http import FilePart, HttpClient, PreparedRequest, Secret
from qwidgets.protocol.sigv4 import access_key_id, sign_request


class SignedHttpClient(HttpClient):
    """Secret key = the token, access key id = its public id (``sigv4.access_key_id``)."""

    def __init__(self, base_url: str, token: str, *, region: str = "us-east-1",
                 service: str = "braket", **options: Any) -> None:
        super().__init__(base_url, token, **options)
        self.region = region
        self.service = service
        self._secret = Secret(token)
        self._access_key = access_key_id(token)
        parts = urlsplit(self.base_url)
        if parts.hostname is None:
            raise ValidationError("endpoint", base_url, "must be an http(s) URL",
                                  "pass e.g. endpoint='http://127.0.0.1:8765'")
        default = {"http": 80, "https": 443}.get(parts.scheme)
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        self._scheme = parts.scheme
        self._host = host if parts.port in (None, default) else f"{host}:{parts.port}"
        self._prefix = parts.path.rstrip("/")

    def __repr__(self) -> str:
        return f"SignedHttpClient({self.base_url!r}, region={self.region!r})"

    def prepare(
        self, method: str, path: str, *, json_body: Any = None,
        params: Mapping[str, str] | None = None, file: FilePart | None = None,
        idempotency_key: str | None = None,
    ) -> PreparedRequest:
        # Braket calls carry their own clientToken in the body: no Idempotency-Key.
        if file is not None:
            raise UsageError("Braket routes take JSON bodies, not files")
        body = b"" if json_body is None else json.dumps(json_body).encode()
        raw_path = f"{self._prefix}/{path.lstrip('/')}"
        raw_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
                             for k, v in (params or {}).items())
        # Sent exactly as signed: aiohttp must not re-encode the path or the query.
        url = URL(f"{self._scheme}://{self._host}{raw_path}"
                  + (f"?{raw_query}" if raw_query else ""), encoded=True)

        def signed() -> dict[str, str]:
            # per attempt: the signature covers the time it was made
            headers = sign_request(method, self._host, raw_path, raw_query, body,
                                   access_key=self._access_key, secret=self._secret.reveal(),
                                   region=self.region, service=self.service)
            if body:
                headers["Content-Type"] = "application/json"
            return headers

        return PreparedRequest(url, body=body or None, headers=signed)
