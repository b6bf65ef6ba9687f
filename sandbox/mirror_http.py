"""The sandbox mirror's request handler: static files with `Range`, and generated index pages.

Test infrastructure only (see sandbox/__init__.py); never imported by gpufleet/ or tasks/.
"""

import email.utils
import hashlib
import mimetypes
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sandbox import simple_index

CHUNK = 1 << 20


class RangeNotSatisfiable(ValueError):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte span a `Range` header asks of a `size`-byte file; None = whole file.

    `parse_range("bytes=0-99", 1000)` -> (0, 99); `parse_range("bytes=-100", 1000)` -> (900, 999).
    Several ranges or another unit -> None (serving the whole file is allowed by RFC 9110).
    Raises RangeNotSatisfiable when the span lies outside the file (the server answers 416)."""
    if not header or not header.strip().startswith("bytes=") or "," in header:
        return None
    spec = header.strip()[len("bytes=") :].strip()
    first, sep, last = spec.partition("-")
    if not sep or not (first.isdigit() or last.isdigit()):
        return None
    if not first:  # suffix: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return max(0, size - n), size - 1
    start = int(first)
    if last.isdigit() and int(last) < start:
        return None  # syntactically invalid: ignore the header
    if start >= size:
        raise RangeNotSatisfiable(header)
    end = int(last) if last.isdigit() else size - 1
    return start, min(end, size - 1)


_hash_cache: dict[tuple[str, int, int], str] = {}
_hash_lock = threading.Lock()


def sha256_of(path: Path) -> str:
    """sha256 of a file, cached by (path, size, mtime) so big wheels are hashed once."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _hash_lock:
        if key in _hash_cache:
            return _hash_cache[key]
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    with _hash_lock:
        _hash_cache[key] = digest.hexdigest()
    return _hash_cache[key]


def dist_files(directory: Path) -> list[simple_index.DistFile]:
    files = []
    for p in directory.iterdir():
        if p.is_file() and simple_index.is_dist(p.name):
            meta = p.with_name(p.name + ".metadata")
            files.append(
                simple_index.DistFile(
                    filename=p.name,
                    size=p.stat().st_size,
                    sha256=sha256_of(p),
                    metadata_sha256=sha256_of(meta) if meta.is_file() else None,
                )
            )
    return files


class Handler(BaseHTTPRequestHandler):
    """Bound to a sandbox.mirror.Server as the class attribute `mirror`."""

    mirror = None  # set by Server
    protocol_version = "HTTP/1.1"
    server_version = "gpufleet-sandbox-mirror"

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def log_message(self, format: str, *args) -> None:
        pass  # the JSONL log below replaces stderr logging

    # --- dispatch ---
    def _answer(self, body: bool) -> None:
        self._sent = 0
        self._status = 500
        try:
            self._dispatch(body)
        finally:
            self.mirror.record(
                {
                    "ts": round(time.time(), 3),
                    "client": self.client_address[0],
                    "method": self.command,
                    "path": urlsplit(self.path).path,
                    "status": self._status,
                    "bytes": self._sent,
                    "range": self.headers.get("Range"),
                }
            )

    def _dispatch(self, body: bool) -> None:
        url_path = unquote(urlsplit(self.path).path)
        target = self._resolve(url_path)
        if target is None:
            return self._plain(404, "not found\n", body)
        if target.is_dir():
            if not url_path.endswith("/"):
                return self._redirect(urlsplit(self.path).path + "/")
            if (target / "index.html").is_file():
                return self._file(target / "index.html", body)
            return self._index(target, url_path, body)
        return self._file(target, body)

    def _resolve(self, url_path: str) -> Path | None:
        root = self.mirror.root
        parts = [p for p in url_path.split("/") if p]
        if any(p in (".", "..") for p in parts):
            return None
        target = root.joinpath(*parts)
        if not target.exists() and parts:
            # PEP 503: clients may ask for a project by its unnormalised name
            target = target.with_name(simple_index.normalize(parts[-1]))
        return target if target.exists() else None

    # --- responses ---
    def _head(self, status: int, headers: dict[str, str]) -> None:
        self._status = status
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _write(self, data: bytes) -> None:
        self.wfile.write(data)
        self._sent += len(data)

    def _plain(self, status: int, text: str, body: bool, ctype: str = "text/plain") -> None:
        data = text.encode()
        self._head(status, {"Content-Type": ctype, "Content-Length": str(len(data))})
        if body:
            self._write(data)

    def _redirect(self, location: str) -> None:
        self._head(301, {"Location": location, "Content-Length": "0"})

    def _index(self, directory: Path, url_path: str, body: bool) -> None:
        files = dist_files(directory)
        subdirs = [p.name for p in directory.iterdir() if p.is_dir()]
        name = directory.name
        as_json = simple_index.wants_json(self.headers.get("Accept"))
        if files:
            page = (simple_index.project_json if as_json else simple_index.project_html)(
                name, files
            )
        elif as_json:
            page = simple_index.index_json(subdirs)
        else:
            others = [p.name for p in directory.iterdir() if p.is_file()]
            page = simple_index.index_html(f"Index of {url_path}", subdirs, others)
        ctype = simple_index.JSON_TYPE if as_json else "text/html; charset=utf-8"
        headers = {"Content-Type": ctype, "Vary": "Accept"}
        data = page.encode()
        headers["Content-Length"] = str(len(data))
        self._head(200, headers)
        if body:
            self._write(data)

    def _file(self, path: Path, body: bool) -> None:
        st = path.stat()
        size = st.st_size
        headers = {
            "Content-Type": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
            "Accept-Ranges": "bytes",
            "Last-Modified": email.utils.formatdate(st.st_mtime, usegmt=True),
        }
        try:
            span = parse_range(self.headers.get("Range"), size)
        except RangeNotSatisfiable:
            return self._head(416, {"Content-Range": f"bytes */{size}", "Content-Length": "0"})
        if span is None:
            start, end, status = 0, size - 1, 200
        else:
            (start, end), status = span, 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = end - start + 1 if size else 0
        headers["Content-Length"] = str(length)
        self._head(status, headers)
        if body and length:
            self._copy(path, start, length)

    def _copy(self, path: Path, start: int, length: int) -> None:
        with open(path, "rb") as f:
            f.seek(start)
            while length > 0:
                chunk = f.read(min(CHUNK, length))
                if not chunk:
                    break
                try:
                    self._write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    return
                length -= len(chunk)
