"""The download path against a local HTTP server on 127.0.0.1: cache, checksum, broken connection."""

import hashlib
import http.server
import threading

import pytest

from molpeft_cli.data import registry
from molpeft_cli.errors import MolpeftError

BODY = b"smiles,exp\nCCO,1.0\nc1ccccc1,2.0\n"


class Handler(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        Handler.hits.append(self.path)
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
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Handler.hits = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MOLPEFT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def cached_files(cache):
    return [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []


def test_download_verifies_and_reuses_cache(server, cache):
    url = f"{server}/data/lipo.csv"
    path = registry.download(url, sha256=hashlib.sha256(BODY).hexdigest())
    assert path.read_bytes() == BODY
    assert registry.download(url) == path
    assert Handler.hits == ["/data/lipo.csv"]  # second call served from the cache
    registry.download(url, refresh=True)
    assert len(Handler.hits) == 2


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
