"""A minimal Hugging Face hub on 127.0.0.1 serving one model repository from a local folder, enough for
`huggingface_hub.snapshot_download`: repo info, the file tree, and file downloads (HEAD and GET)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@contextlib.contextmanager
def serve_repository(repo_id: str, folder: Path) -> Iterator[tuple[str, list[str]]]:
    """Serve `folder` as model `repo_id`; yields (endpoint URL, list of requested paths)."""
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str], with_body: bool) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def _route(self, with_body: bool) -> None:
            path = unquote(urlparse(self.path).path)
            requests.append(f"{self.command} {path}")
            info_prefix, tree_prefix = f"/api/models/{repo_id}/revision/", f"/api/models/{repo_id}/tree/"
            resolve_prefix = f"/{repo_id}/resolve/"
            if path.startswith(info_prefix):
                info = {"id": repo_id, "sha": COMMIT, "siblings": [{"rfilename": name} for name in files]}
                self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"}, with_body)
            elif path.startswith(tree_prefix):
                tree = [
                    {"type": "file", "path": name, "size": len(data), "oid": _git_blob_id(data)}
                    for name, data in files.items()
                ]
                self._send(200, json.dumps(tree).encode(), {"Content-Type": "application/json"}, with_body)
            elif path.startswith(resolve_prefix) and path.split("/", 5)[-1] in files:
                data = files[path.split("/", 5)[-1]]
                headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{_git_blob_id(data)}"'}
                self._send(200, data, headers, with_body)
            else:
                self._send(404, b'{"error": "not found"}', {"X-Error-Code": "EntryNotFound"}, with_body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._route(with_body=True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._route(with_body=False)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
