"""Static files that ship inside the package (stylesheets, scripts, icons), each with
a content hash for its URL so that browsers may cache it for a day."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

CACHE_HEADERS = {
    "Cache-Control": "public, max-age=86400",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    version: str


def load(package: str, name: str, media_type: str) -> Asset:
    body = resources.files(package).joinpath("static", name).read_bytes()
    return Asset(body, media_type, hashlib.sha256(body).hexdigest()[:12])
