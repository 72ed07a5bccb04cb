"""Where a dataset comes from: a bundled name, a local CSV/parquet path, or an http(s) URL (cached download)."""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from molpeft_cli.data.atomic import atomic_path
from molpeft_cli.data.manifest import sha256_file
from molpeft_cli.errors import MolpeftError


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
        raise MolpeftError("--refresh applies to bundled datasets and URLs, not to local files")
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


def download(url: str, sha256: str | None = None, refresh: bool = False, timeout: float = 60.0) -> Path:
    """Download `url` into the cache (reused when present and matching); nothing partial is ever left there."""
    target = cached_path(url)
    if target.exists() and not refresh:
        if sha256 is None or sha256_file(target) == sha256.lower():
            return target
    try:
        with atomic_path(target) as tmp:
            _fetch(url, tmp, timeout)
            actual = sha256_file(tmp)
            if sha256 is not None and actual != sha256.lower():
                raise MolpeftError(f"checksum mismatch for {url}: got sha256 {actual}, expected {sha256}")
    except MolpeftError:
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError) as exc:
        raise MolpeftError(f"download of {url} failed: {exc}") from None
    return target


def _fetch(url: str, dest: Path, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "molpeft"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as out:
        expected = response.headers.get("Content-Length")
        received = 0
        while chunk := response.read(1 << 16):
            out.write(chunk)
            received += len(chunk)
    if expected is not None and received != int(expected):
        raise MolpeftError(f"download of {url} was cut off: got {received} of {expected} bytes")
