"""Stand-in package index for tests: a local HTTP server, never the internet.

It speaks what real indexes speak: a PEP 691 JSON and PEP 503 HTML simple page, PEP 658
`.metadata` files for the wheels that have one, and HTTP `Range` (206) on wheels; it counts
the bytes it sends per path so tests can prove no whole wheel was downloaded.

Example:
    >>> with IndexServer() as srv:  # doctest: +SKIP
    ...     srv.add_wheel("vllm", "0.9.0", ["torch==2.7.0"], pep658=True)
    ...     project_files(srv.index_url, "vllm")
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import io
import json
import random
import re
import threading
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PLATFORM = "cp38-abi3-manylinux1_x86_64"


def metadata_text(name: str, version: str, requires: list[str], requires_python: str) -> str:
    """A METADATA file as wheel builders write it."""
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Requires-Dist: {req}" for req in requires]
    return "\n".join(lines) + "\n\nLong description.\n"


def build_wheel(
    name: str, version: str, metadata: str, padding: int = 0, entries: int = 0
) -> bytes:
    """A real zip wheel. `padding` bytes of incompressible data come first (so the wheel is
    bigger than one tail fetch); `entries` extra members make the central directory big."""
    buf = io.BytesIO()
    rnd = random.Random(0)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{name}/__init__.py", "")
        if padding:
            zf.writestr(f"{name}/_blob.so", rnd.randbytes(padding), zipfile.ZIP_STORED)
        for i in range(entries):
            zf.writestr(f"{name}/generated/module_with_a_fairly_long_name_{i:06d}.py", "")
        dist = f"{name}-{version}.dist-info"
        zf.writestr(f"{dist}/METADATA", metadata)
        zf.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nTag: cp38-abi3-manylinux1_x86_64\n")
        zf.writestr(f"{dist}/RECORD", "")
    return buf.getvalue()


@dataclass
class _Entry:
    filename: str
    sha256: str
    requires_python: str | None
    yanked: bool | str
    metadata_sha256: str | None  # None: no .metadata file advertised


@dataclass
class IndexServer:
    """Threaded HTTP server on 127.0.0.1 serving one simple index; use as a context manager."""

    honour_range: bool = True
    html_only: bool = False
    blobs: dict[str, bytes] = field(default_factory=dict)  # URL path → body
    entries: dict[str, list[_Entry]] = field(default_factory=dict)  # project → files
    bytes_served: Counter = field(default_factory=Counter)  # URL path → bytes sent
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range)

    def __enter__(self) -> IndexServer:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(
            target=self.httpd.serve_forever,
            args=(0.05,),
            daemon=True,  # quick shutdown
        )
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def index_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/simple"

    def add_file(self, project: str, filename: str, body: bytes, **kw) -> str:
        """Serve `body` as a file of `project`; kw: requires_python, yanked, metadata (bytes)."""
        self.blobs[f"/files/{filename}"] = body
        meta: bytes | None = kw.get("metadata")
        if meta is not None:
            self.blobs[f"/files/{filename}.metadata"] = kw.get("metadata_served", meta)
        entry = _Entry(
            filename,
            hashlib.sha256(body).hexdigest(),
            kw.get("requires_python"),
            kw.get("yanked", False),
            hashlib.sha256(meta).hexdigest() if meta is not None else None,
        )
        self.entries.setdefault(project, []).append(entry)
        return f"/files/{filename}"

    def add_wheel(self, name: str, version: str, requires: list[str], pep658: bool, **kw) -> str:
        """Build and serve a wheel; with pep658 also its .metadata file. kw as add_file plus
        padding/entries for build_wheel and requires_python (default ">=3.9")."""
        rp = kw.pop("requires_python", ">=3.9")
        meta = metadata_text(name, version, requires, rp).encode()
        body = build_wheel(name, version, meta.decode(), kw.pop("padding", 0), kw.pop("entries", 0))
        filename = f"{name}-{version}-{kw.pop('tag', PLATFORM)}.whl"
        meta_kw = {"metadata": meta} if pep658 else {}
        return self.add_file(name, filename, body, requires_python=rp, **meta_kw, **kw)

    def page_json(self, project: str) -> bytes:
        files = []
        for e in self.entries.get(project, []):
            item = {"filename": e.filename, "url": f"../../files/{e.filename}"}
            item |= {"hashes": {"sha256": e.sha256}, "requires-python": e.requires_python}
            item["yanked"] = e.yanked
            if e.metadata_sha256:
                item["core-metadata"] = {"sha256": e.metadata_sha256}
            files.append(item)
        page = {"meta": {"api-version": "1.1"}, "name": project, "files": files}
        return json.dumps(page).encode()

    def page_html(self, project: str) -> bytes:
        links = []
        for e in self.entries.get(project, []):
            attrs = f' href="/files/{e.filename}#sha256={e.sha256}"'
            if e.requires_python:
                attrs += f' data-requires-python="{html.escape(e.requires_python)}"'
            if e.yanked:
                reason = e.yanked if isinstance(e.yanked, str) else ""
                attrs += f' data-yanked="{html.escape(reason)}"'
            if e.metadata_sha256:
                attrs += f' data-dist-info-metadata="sha256={e.metadata_sha256}"'
            links.append(f"<a{attrs}>{e.filename}</a><br/>")
        body = "\n".join(links)
        return f"<!DOCTYPE html><html><body>{body}</body></html>".encode()


def _handler(server: IndexServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def do_GET(self) -> None:
            server.requests.append((self.path, self.headers.get("Range")))
            page = re.fullmatch(r"/simple/([^/]+)/", self.path)
            if page:
                self._page(page.group(1))
            elif self.path in server.blobs:
                self._blob(server.blobs[self.path])
            else:
                self._send(404, b"not found", "text/plain")

        def _page(self, project: str) -> None:
            if project not in server.entries:
                self._send(404, b"no such project", "text/plain")
            elif "json" in self.headers.get("Accept", "") and not server.html_only:
                self._send(200, server.page_json(project), "application/vnd.pypi.simple.v1+json")
            else:
                self._send(200, server.page_html(project), "text/html; charset=utf-8")

        def _blob(self, body: bytes) -> None:
            rng = self.headers.get("Range")
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng or "")
            if not (server.honour_range and m):
                self._send(200, body, "application/octet-stream")
                return
            size = len(body)
            if m.group(1):
                start, end = int(m.group(1)), int(m.group(2) or size - 1)
            else:
                start, end = max(0, size - int(m.group(2))), size - 1
            end = min(end, size - 1)
            extra = {"Content-Range": f"bytes {start}-{end}/{size}"}
            self._send(206, body[start : end + 1], "application/octet-stream", extra)

        def _send(self, code: int, body: bytes, ctype: str, extra: dict | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            # Count before writing: the client may act on the reply before this thread resumes.
            server.bytes_served[self.path] += len(body)
            # A client refusing a full body hangs up: exactly what the refusal test wants.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

    return Handler
