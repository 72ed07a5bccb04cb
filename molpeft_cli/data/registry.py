"""Where a dataset comes from: a bundled name, a local CSV/parquet path, or an http(s) URL (cached download)."""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from molpeft_cli.data.atomic import atomic_path, write_text_atomic
from molpeft_cli.data.manifest import sha256_file
from molpeft_cli.errors import MolpeftError, SettingError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BundledDataset:
    name: str
    filename: str
    sha256: str
    url: str  # canonical upstream copy, used by --refresh
    card: str  # data card with origin, license and attribution


BUNDLED = {
    "lipophilicity": BundledDataset(
        name="lipophilicity",
        filename="lipophilicity.csv",
        sha256="aed41590cb30609d51d8e08ad3ff06495a76e80e211358801f596b10da69bacd",
        url="https://deepchemdata.s3-us-west-1.amazonaws.com/datasets/Lipophilicity.csv",
        card="lipophilicity.md",
    )
}


@dataclass(frozen=True)
class ResolvedSource:
    path: Path
    name: str  # recorded in the `source` column
    origin: str  # "bundled", "file", "url"
    sha256: str | None = None


def assets_dir() -> Path:
    return Path(str(resources.files("molpeft_cli") / "assets"))


def cache_dir() -> Path:
    """User cache folder (platformdirs); MOLPEFT_CACHE_DIR overrides it."""
    override = os.environ.get("MOLPEFT_CACHE_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("molpeft"))


def resolve_source(source: str, refresh: bool = False, sha256: str | None = None) -> ResolvedSource:
    if source in BUNDLED:
        entry = BUNDLED[source]
        if refresh:
            path = download(entry.url, sha256=sha256 or entry.sha256, refresh=True)
            return ResolvedSource(path, entry.name, "url", sha256_file(path))
        path = assets_dir() / entry.filename
        actual = sha256_file(path)
        if actual != entry.sha256:
            raise MolpeftError(
                f"bundled {source} is corrupt (sha256 {actual[:12]}..., expected {entry.sha256[:12]}...); reinstall"
            )
        return ResolvedSource(path, entry.name, "bundled", actual)
    if source.startswith(("http://", "https://")):
        path = download(source, sha256=sha256, refresh=refresh)
        return ResolvedSource(path, Path(source.split("?")[0]).stem or "download", "url", sha256_file(path))
    if refresh:
        raise SettingError("refresh", "{setting} applies to bundled datasets and URLs, not to local files")
    path = Path(source)
    if not path.exists():
        known = ", ".join(BUNDLED)
        raise MolpeftError(
            f"input file not found: {source}; not a bundled dataset either (bundled: {known}; URLs start with https://)"
        )
    digest = sha256_file(path) if path.is_file() else None
    if sha256 and digest != sha256.lower():
        raise MolpeftError(f"checksum mismatch for {path}: sha256 {digest}, expected {sha256}")
    return ResolvedSource(path, path.stem, "file", digest)


def cached_path(url: str) -> Path:
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    basename = Path(url.split("?")[0]).name or "download"
    return cache_dir() / "downloads" / f"{key}-{basename}"


def _meta_path(target: Path) -> Path:
    return target.with_name(target.name + ".meta.json")


def _read_meta(target: Path) -> dict:
    try:
        meta = json.loads(_meta_path(target).read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def download(url: str, sha256: str | None = None, refresh: bool = False, timeout: float = 60.0) -> Path:
    """Download `url` into the cache; nothing partial (and no HTML page) is ever left there.

    A cached copy is used without asking the server only when `sha256` pins it. Otherwise it is re-validated:
    a conditional request (ETag / Last-Modified, recorded beside the copy) that the server answers with 304, or,
    where it gives no validators, a fresh copy compared by size and sha256. Every use of the cache is said.
    """
    target = cached_path(url)
    have = target.is_file() and not refresh
    if have and sha256 is not None and sha256_file(target) == sha256.lower():
        log.info(f"using the cached download of {url} (its sha256 is the one asked for): {target}")
        return target
    meta = _read_meta(target) if have else {}
    if have and meta.get("sha256") != sha256_file(target):
        meta = {}  # the copy changed since it was recorded: do not vouch for it with its old validators
    headers = {}
    if meta.get("etag"):
        headers["If-None-Match"] = meta["etag"]
    if meta.get("last_modified"):
        headers["If-Modified-Since"] = meta["last_modified"]
    try:
        with atomic_path(target) as tmp:
            fetched = _fetch(url, tmp, timeout, headers)
            if fetched is None:  # 304: the cached copy is current
                raise _NotModified
            actual = sha256_file(tmp)
            if sha256 is not None and actual != sha256.lower():
                raise MolpeftError(f"checksum mismatch for {url}: got sha256 {actual}, expected {sha256}")
            if have:
                old = sha256_file(target)
                if old == actual:
                    log.info(f"the cached download of {url} is unchanged upstream (same size and sha256)")
                else:
                    log.info(f"{url} changed since it was cached (sha256 {old[:12]}... -> {actual[:12]}...): "
                         "using the new copy")
            fetched["sha256"] = actual
            fetched["url"] = url
    except _NotModified:
        log.info(f"using the cached download of {url} (not modified upstream): {target}")
        return target
    except MolpeftError:
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError) as exc:
        if have and not isinstance(exc, urllib.error.HTTPError):
            log.warning(f"could not re-validate {url} ({_reason(exc)}); using the cached copy from "
                 f"{meta.get('fetched', 'an earlier run')}: {target}")
            return target
        raise MolpeftError(f"download of {url} failed: {_reason(exc)}") from None
    write_text_atomic(_meta_path(target), json.dumps(fetched, indent=1) + "\n")
    return target


class _NotModified(Exception):
    pass


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__


def _fetch(url: str, dest: Path, timeout: float, headers: dict[str, str] | None = None) -> dict | None:
    """Write the body to `dest` and return its validators; None when the server answers 304 Not Modified."""
    from molpeft_cli.data.manifest import now
    from molpeft_cli.data.tables import looks_like_html

    request = urllib.request.Request(url, headers={"User-Agent": "molpeft", **(headers or {})})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return None
        raise
    with response, open(dest, "wb") as out:
        content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type in ("text/html", "application/xhtml+xml"):
            raise MolpeftError(f"{url} returned an HTML page ({content_type}), not a data table; check the URL")
        expected = response.headers.get("Content-Length")
        received = 0
        first = b""
        while chunk := response.read(1 << 16):
            if not first:
                first = chunk
            out.write(chunk)
            received += len(chunk)
        validators = {"etag": response.headers.get("ETag"), "last_modified": response.headers.get("Last-Modified"),
                      "size": received, "fetched": now()}
    if expected is not None and received != int(expected):
        raise MolpeftError(f"download of {url} was cut off: got {received} of {expected} bytes")
    if looks_like_html(first):
        raise MolpeftError(f"{url} returned an HTML page, not a data table; check the URL")
    return validators
