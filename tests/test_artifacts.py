"""gpufleet.artifacts (the control machine's cache) against a real HTTP server with Range.

The server is the sandbox mirror's (test infrastructure), on 127.0.0.1 in a thread; its request
log says what crossed the wire.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest
from pyinfra.api.command import FileUploadCommand
from pyinfra.context import ctx_host

from gpufleet import artifacts
from gpufleet.operations import download
from sandbox import mirror
from tests.operations.scenarios import FakeHost

CONTENT = bytes(range(256)) * 4096  # 1 MiB
DIGEST = hashlib.sha256(CONTENT).hexdigest()


@pytest.fixture
def served(tmp_path: Path):
    """(base URL, request log) of a mirror serving tmp_path/root/d/x.run and its checksum."""
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "d" / "x.run").write_bytes(CONTENT)
    (root / "d" / "x.run.sha256sum").write_text(f"{DIGEST}  x.run\n")
    log = tmp_path / "log.jsonl"
    server = mirror.Server(root, "127.0.0.1", 0, log)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}/d", log
    server.shutdown()


def _served_bytes(log: Path, requests: int = 1) -> int:
    """Bytes served by the first `requests` requests. The server logs a request after its
    response went out, so the client can be done first: wait (briefly) for the log lines."""
    deadline = time.monotonic() + 5
    while len(mirror.read_log(log)) < requests and time.monotonic() < deadline:
        time.sleep(0.01)
    return mirror.bytes_served(log)


def test_fetch_downloads_once_and_verifies(served, tmp_path: Path) -> None:
    base, log = served
    cache = tmp_path / "cache"
    path = artifacts.fetch("gpu01", f"{base}/x.run", DIGEST, str(cache))
    assert path == cache / "x.run" and path.read_bytes() == CONTENT
    assert _served_bytes(log) == len(CONTENT)
    again = artifacts.fetch("gpu02", f"{base}/x.run", DIGEST, str(cache))
    assert again == path and _served_bytes(log) == len(CONTENT), "a kept file is not fetched"
    assert sorted(p.name for p in cache.iterdir()) == ["x.run"]


def test_fetch_resumes_a_partial_download_with_range(served, tmp_path: Path) -> None:
    base, log = served
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "x.run.part").write_bytes(CONTENT[:300_000])
    path = artifacts.fetch("gpu01", f"{base}/x.run", DIGEST, str(cache))
    assert path.read_bytes() == CONTENT
    _served_bytes(log)
    [entry] = mirror.read_log(log)
    assert entry["status"] == 206 and entry["bytes"] == len(CONTENT) - 300_000


def test_fetch_refuses_a_tampered_file_and_keeps_nothing(served, tmp_path: Path) -> None:
    base, _ = served
    cache = tmp_path / "cache"
    wrong = "0" * 64
    with pytest.raises(artifacts.ArtifactError) as error:
        artifacts.fetch("gpu03", f"{base}/x.run", wrong, str(cache))
    assert str(error.value) == (
        f"gpu03: x.run: sha256 mismatch: expected {wrong}, got {DIGEST} "
        f"(from {base}/x.run); refusing to use it"
    )
    assert list(cache.iterdir()) == []


def test_published_sha256_read_on_the_control_machine(served) -> None:
    base, _ = served
    assert artifacts.published_sha256("gpu01", f"{base}/x.run.sha256sum", "x.run") == DIGEST
    with pytest.raises(artifacts.ArtifactError, match=r"^gpu01: x.run: cannot read its checksum"):
        artifacts.published_sha256("gpu01", f"{base}/missing.sha256sum", "x.run")


def test_control_mode_pushes_the_cached_file_then_checks_it_on_the_host(served, tmp_path) -> None:
    base, log = served
    fake = FakeHost({"Sha256File": None}, name="gpu04")
    fake.get_temp_filename = lambda path: "/tmp/upload-1"  # type: ignore[attr-defined]
    with ctx_host.use(fake):
        commands = list(
            download.verified_file._inner(
                url=f"{base}/x.run",
                dest="/var/cache/gpufleet/x.run",
                sha256_url=f"{base}/x.run.sha256sum",
                cache_dir=str(tmp_path / "cache"),
            )
        )
    assert fake.asked == ["Sha256File"], "the checksum is read here, not by the host"
    assert commands[0] == "mkdir -p /var/cache/gpufleet"
    assert isinstance(commands[1], FileUploadCommand)
    assert commands[1].src == str(tmp_path / "cache" / "x.run")
    assert commands[1].dest == "/var/cache/gpufleet/.x.run.upload"
    assert f"= {DIGEST} ]; then chmod 0644" in commands[2]
    assert "mv -f /var/cache/gpufleet/.x.run.upload /var/cache/gpufleet/x.run" in commands[2]
    assert _served_bytes(log, requests=2) == len(CONTENT) + len(f"{DIGEST}  x.run\n")
