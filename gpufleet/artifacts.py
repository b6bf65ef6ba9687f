"""The control machine's artifact cache: each runfile/installer downloaded once per cluster.

With ``artifact_cache = "control"`` the control machine fetches an artifact through its
configured URL into ``artifact_cache_dir`` and pyinfra pushes it to the hosts that lack it over
their SSH connection: a slow WAN link carries a 4 GB CUDA runfile once, not once per host.

A file is kept under its own name only once its sha256 matches the expected digest; an
interrupted download stays as ``<name>.part`` and the next fetch continues it with an HTTP
``Range`` request (a server answering 200 instead of 206 restarts it). A mismatch removes the
partial file and raises ``ArtifactError`` naming the host, the file, both digests and the URL,
while pyinfra still prepares operations: before any host is touched.

    >>> sha256_of_lines(["7f3d" + "0" * 60 + "  x.run"], "x.run")[:4]
    '7f3d'
"""

from __future__ import annotations

import hashlib
import threading
import urllib.request
from pathlib import Path
from urllib.error import HTTPError, URLError

from gpufleet.facts.driver import PublishedSha256

_CHUNK = 1 << 20
_LOCKS: dict[str, threading.Lock] = {}  # one download per file, whichever host asks first
_LOCKS_GUARD = threading.Lock()
_VERIFIED: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256, this run


class ArtifactError(RuntimeError):
    """``gpu01: x.run: sha256 mismatch: expected …, got … (from URL); refusing to use it``."""


def sha256_of_lines(lines: list[str], name: str) -> str | None:
    """The digest a ``sha256sum``-format checksum file lists for ``name`` (or its lone digest)."""
    digests = PublishedSha256().process(lines) or {}
    return digests.get(name) or (digests.get("") if len(digests) == 1 else None)


def published_sha256(host: str, url: str, name: str, timeout: float = 60) -> str:
    """Read a checksum file from the control machine; raise naming the host when it lacks one."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            lines = response.read().decode("utf-8", "replace").splitlines()
    except (HTTPError, URLError, OSError) as exc:
        raise ArtifactError(f"{host}: {name}: cannot read its checksum at {url}: {exc}") from None
    digest = sha256_of_lines(lines, name)
    if digest is None:
        raise ArtifactError(f"{host}: {name}: no sha256 for it at {url}")
    return digest


def file_sha256(path: Path) -> str:
    """The file's sha256, hashed once per run while its size and mtime stay the same."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _VERIFIED:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        _VERIFIED[key] = digest.hexdigest()
    return _VERIFIED[key]


def _download(url: str, part: Path, timeout: float) -> None:
    """Fetch ``url`` into ``part``, continuing what is there with a Range request."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url)
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except HTTPError as exc:
        if exc.code != 416 or not offset:  # 416: the partial file is already complete
            raise
        return
    with response:
        append = offset and response.status == 206
        with part.open("ab" if append else "wb") as handle:
            while chunk := response.read(_CHUNK):
                handle.write(chunk)


def _lock(path: Path) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(str(path), threading.Lock())


def fetch(host: str, url: str, sha256: str, cache_dir: str, timeout: float = 600) -> Path:
    """The verified local copy of ``url`` in ``cache_dir``: kept, or downloaded (resumed) now.

    ``host`` only names who asked, in errors. Concurrent callers for one file wait for the
    first one's download instead of starting their own.
    """
    name = url.rstrip("/").rsplit("/", 1)[-1]
    directory = Path(cache_dir)
    final, part = directory / name, directory / f"{name}.part"
    with _lock(final):
        if final.exists() and file_sha256(final) == sha256:
            return final
        directory.mkdir(parents=True, exist_ok=True)
        try:
            _download(url, part, timeout)
        except (HTTPError, URLError, OSError) as exc:
            raise ArtifactError(
                f"{host}: {name}: download from {url} failed: {exc} (partial file kept)"
            ) from None
        actual = file_sha256(part)
        if actual != sha256:
            part.unlink(missing_ok=True)
            raise ArtifactError(
                f"{host}: {name}: sha256 mismatch: expected {sha256}, got {actual} "
                f"(from {url}); refusing to use it"
            )
        part.replace(final)
        return final
