"""The download path against a local HTTP server on 127.0.0.1: cache re-validation (ETag, changed content,
offline), checksum, broken connection, HTML pages refused."""

import hashlib
import http.server
import logging
import threading

import pytest

from molpeft_cli.data import registry
from molpeft_cli.errors import MolpeftError

BODY = b"smiles,exp\nCCO,1.0\nc1ccccc1,2.0\n"


class Handler(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []
    conditional: list[str] = []
    body = BODY

    def do_GET(self):  # noqa: N802 (http.server's naming)
        Handler.hits.append(self.path)
        etag = '"' + hashlib.sha256(Handler.body).hexdigest()[:16] + '"'
        if self.path.startswith("/etag"):
            if self.headers.get("If-None-Match"):
                Handler.conditional.append(self.headers["If-None-Match"])
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(Handler.body)))
            self.end_headers()
            self.wfile.write(Handler.body)
            return
        if self.path.startswith("/html"):
            page = b"<!DOCTYPE html><html><body>Sign in</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8" if "typed" in self.path else "text/plain")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return
        if self.path.startswith("/broken"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY) * 10))
            self.end_headers()
            self.wfile.write(BODY)  # then the connection closes early
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path.startswith("/missing"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(Handler.body)))
        self.end_headers()
        self.wfile.write(Handler.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Handler.hits, Handler.conditional, Handler.body = [], [], BODY
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MOLPEFT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def cached_files(cache):
    return [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []


@pytest.fixture
def said(caplog):
    """What the library logged since the last call (the download messages are INFO records)."""
    caplog.set_level(logging.INFO, logger="molpeft_cli")

    def read() -> str:
        text = caplog.text
        caplog.clear()
        return text

    return read


def test_download_verifies_and_reuses_cache(server, cache, said):
    url = f"{server}/data/lipo.csv"
    digest = hashlib.sha256(BODY).hexdigest()
    path = registry.download(url, sha256=digest)
    assert path.read_bytes() == BODY
    assert registry.download(url, sha256=digest) == path
    assert Handler.hits == ["/data/lipo.csv"]  # pinned by sha256: served from the cache, no request
    assert "using the cached download" in said()
    registry.download(url, refresh=True)
    assert len(Handler.hits) == 2


def test_cached_url_is_revalidated_with_its_etag(server, cache, said):
    url = f"{server}/etag/lipo.csv"
    path = registry.download(url)
    assert registry.download(url) == path and path.read_bytes() == BODY
    assert len(Handler.hits) == 2 and len(Handler.conditional) == 1  # the second request was conditional (304)
    assert "not modified upstream" in said()
    Handler.body = BODY + b"CCN,3.0\n"  # the server's copy changes
    assert registry.download(url).read_bytes() == Handler.body
    assert "changed since it was cached" in said()


def test_changed_content_without_validators_is_noticed(server, cache, said):
    url = f"{server}/data/lipo.csv"
    registry.download(url)
    registry.download(url)
    assert "unchanged upstream (same size and sha256)" in said()
    Handler.body = b"smiles,exp\nCCCl,9.0\n"
    assert registry.download(url).read_bytes() == Handler.body
    assert "changed since it was cached" in said()


def test_offline_uses_the_cache_and_says_so(server, cache, said):
    url = f"{server}/etag/lipo.csv"
    path = registry.download(url)
    dead = "http://127.0.0.1:9/etag/lipo.csv"  # nothing listens on the discard port
    target = registry.cached_path(dead)
    target.write_bytes(path.read_bytes())
    assert registry.download(dead, timeout=2) == target
    assert "could not re-validate" in said()


@pytest.mark.parametrize("route", ["/html/typed/data.csv", "/html/sniffed/data.csv"])
def test_html_page_is_refused_and_not_cached(server, cache, route):
    with pytest.raises(MolpeftError, match="HTML page"):
        registry.download(f"{server}{route}")
    assert cached_files(cache) == []


def test_wrong_checksum_leaves_nothing(server, cache):
    with pytest.raises(MolpeftError, match="checksum mismatch"):
        registry.download(f"{server}/data/lipo.csv", sha256="0" * 64)
    assert cached_files(cache) == []


def test_broken_connection_leaves_nothing(server, cache):
    with pytest.raises(MolpeftError, match="download of .* (was cut off|failed)"):
        registry.download(f"{server}/broken/lipo.csv")
    assert cached_files(cache) == []


def test_http_error_is_one_clear_error(server, cache):
    with pytest.raises(MolpeftError, match="404"):
        registry.download(f"{server}/missing/lipo.csv")
    assert cached_files(cache) == []


def test_refresh_of_bundled_name_downloads_upstream(server, cache, monkeypatch):
    entry = registry.BUNDLED["lipophilicity"]
    fake = registry.BundledDataset(entry.name, entry.filename, hashlib.sha256(BODY).hexdigest(),
                                   f"{server}/datasets/Lipophilicity.csv", entry.card)
    monkeypatch.setitem(registry.BUNDLED, "lipophilicity", fake)
    resolved = registry.resolve_source("lipophilicity", refresh=True)
    assert resolved.origin == "url" and resolved.path.read_bytes() == BODY


def test_bundled_dataset_checksum():
    resolved = registry.resolve_source("lipophilicity")
    assert resolved.origin == "bundled"
    assert resolved.sha256 == "aed41590cb30609d51d8e08ad3ff06495a76e80e211358801f596b10da69bacd"
    assert (registry.assets_dir() / "lipophilicity.md").read_text().count("CC BY-SA 3.0") >= 1
