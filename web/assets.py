"""Static assets for slow links: content-hashed names, immutable caching, compressed once.

Every file under ``web/static`` is read and hashed once, when the app starts.
``static_url("js/collect.js")`` (a Jinja global) gives ``/static/js/collect.<hash>.js``;
that name changes whenever the file does, so it is served with a year's immutable cache
and a phone never asks for it again. The plain name (``/static/js/collect.js``) still works,
with a short cache and an ETag, for bookmarks and whatever a template has not switched yet.

Text files go out compressed without compressing per request: a ``<file>.br`` beside a
vendored file (made with ``make vendor-br``: Python has no brotli) is sent as brotli to the
browsers that accept it, and every other text file is gzipped the first time it is asked for
and kept in memory.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["IMMUTABLE", "REVALIDATE", "Asset", "AssetIndex", "StaticAssets", "get_index", "hashed_name", "static_url"]

#: Cache lifetime of a content-hashed name: its bytes can never change.
IMMUTABLE = "public, max-age=31536000, immutable"
#: Cache lifetime of a plain name: short, then revalidated by ETag.
REVALIDATE = "public, max-age=300"
HASH_LENGTH = 10
COMPRESSIBLE = ("text/", "application/javascript", "application/json", "application/manifest+json",
                "image/svg+xml", "application/xml")
_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".webmanifest": "application/manifest+json",
          ".svg": "image/svg+xml", ".json": "application/json", ".png": "image/png", ".ico": "image/x-icon",
          ".map": "application/json", ".txt": "text/plain", ".md": "text/plain"}
# Beside the files they compress, never assets themselves.
_SIDE_FILES = (".br", ".gz")


def _media_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def hashed_name(name: str, digest: str) -> str:
    """``js/collect.js`` -> ``js/collect.<digest>.js`` (the hash before the last suffix)."""
    head, dot, suffix = name.rpartition(".")
    if not dot or "/" in suffix:
        return f"{name}.{digest}"
    return f"{head}.{digest}.{suffix}"


@dataclass
class Asset:
    """One file (or generated text) under /static: its bytes, kept in memory, and their hash."""

    name: str
    body: bytes
    media_type: str
    digest: str
    brotli: bytes | None = None
    _gzip: bytes | None = field(default=None, repr=False)

    @property
    def compressible(self) -> bool:
        return self.media_type.startswith(COMPRESSIBLE) and len(self.body) >= 256

    def gzipped(self) -> bytes:
        if self._gzip is None:
            self._gzip = gzip.compress(self.body, compresslevel=9, mtime=0)
        return self._gzip

    @property
    def etag(self) -> str:
        return f'"{self.digest}"'


class AssetIndex:
    """The files under ``directory`` by name and by hashed name, read once.

    ``generated`` adds text made at startup (plotly.js's style rules) as if it were a file;
    ``aliases`` serve an old name from another file (``{"old/name.js": "new/name.js"}``).
    """

    def __init__(self, directory: Path, *, generated: Mapping[str, Callable[[], bytes]] | None = None,
                 aliases: Mapping[str, str] | None = None) -> None:
        self.directory = directory
        self.assets: dict[str, Asset] = {}
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            name = path.relative_to(directory).as_posix()
            if name.endswith(_SIDE_FILES) or name.rsplit("/", 1)[-1].startswith("."):
                continue
            body = path.read_bytes()
            brotli = path.with_name(path.name + ".br")
            self.assets[name] = self._asset(name, body, brotli.read_bytes() if brotli.exists() else None)
        for name, make in (generated or {}).items():
            self.assets[name] = self._asset(name, make(), None)
        self.by_hashed = {hashed_name(name, a.digest): a for name, a in self.assets.items()}
        self.aliases = {old: self.assets[new] for old, new in (aliases or {}).items() if new in self.assets}

    @staticmethod
    def _asset(name: str, body: bytes, brotli: bytes | None) -> Asset:
        digest = hashlib.sha256(body).hexdigest()[:HASH_LENGTH]
        return Asset(name=name, body=body, media_type=_media_type(name), digest=digest, brotli=brotli)

    def url(self, name: str) -> str:
        """The content-hashed URL of ``name`` (a path under /static, no leading slash)."""
        asset = self.assets.get(name.lstrip("/"))
        if asset is None:
            raise KeyError(f"no static asset {name!r} under {self.directory}")
        return "/static/" + hashed_name(asset.name, asset.digest)

    def lookup(self, name: str) -> tuple[Asset, bool] | None:
        """(asset, whether ``name`` is its hashed name), or None."""
        if name in self.by_hashed:
            return self.by_hashed[name], True
        asset = self.assets.get(name) or self.aliases.get(name)
        return (asset, False) if asset is not None else None


def _accepts(request: Request, coding: str) -> bool:
    for part in request.headers.get("accept-encoding", "").split(","):
        token, _, params = part.strip().partition(";")
        if token.strip().lower() == coding:
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


class StaticAssets:
    """ASGI app for /static: only the files the index knows (no path is ever joined to the disk)."""

    def __init__(self, index: AssetIndex) -> None:
        self.index = index

    def response(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response("Method Not Allowed", status_code=405, headers={"Allow": "GET, HEAD"})
        found = self.index.lookup(request.path_params["path"])
        if found is None:
            return Response("Not Found", status_code=404, media_type="text/plain")
        asset, hashed = found
        headers = {"Cache-Control": IMMUTABLE if hashed else REVALIDATE, "ETag": asset.etag}
        if asset.compressible:
            headers["Vary"] = "Accept-Encoding"
        if request.headers.get("if-none-match") == asset.etag:
            return Response(status_code=304, headers=headers)
        body = asset.body
        if asset.brotli is not None and _accepts(request, "br"):
            body, headers["Content-Encoding"] = asset.brotli, "br"
        elif asset.compressible and _accepts(request, "gzip"):
            body, headers["Content-Encoding"] = asset.gzipped(), "gzip"
        if request.method == "HEAD":
            return Response(status_code=200, media_type=asset.media_type,
                            headers={**headers, "Content-Length": str(len(body))})
        return Response(body, media_type=asset.media_type, headers=headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["path_params"] = {"path": get_route_path(scope).lstrip("/")}
        await self.response(Request(scope, receive))(scope, receive, send)


STATIC_DIR = Path(__file__).parent / "static"
#: Names pages used before the partial plotly bundle, served from it.
ALIASES = {"vendor/plotly/plotly.min.js": "vendor/plotly/plotly-basic.min.js"}


@cache
def get_index() -> AssetIndex:
    """The process's one index of web/static (read at the first use: the app starts it)."""
    from .charts import plotly_css  # noqa: PLC0415 - the charts module imports plotly

    return AssetIndex(STATIC_DIR, generated={"vendor/plotly/plotly.css": lambda: plotly_css()[0].encode()},
                      aliases=ALIASES)


def static_url(name: str) -> str:
    """``/static/<name>`` under its content-hashed name (a Jinja global: ``{{ static_url('js/x.js') }}``)."""
    return get_index().url(name)
