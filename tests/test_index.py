"""gpufleet.index against the local stand-in index (tests/indexserver.py); no internet."""

from __future__ import annotations

import zipfile

import pytest

from gpufleet.index import IndexFetchError, project_files, read_metadata, wheel_metadata
from tests.indexserver import IndexServer, build_wheel, metadata_text

TORCH = ["torch==2.6.0", 'xformers==0.0.29.post2; platform_system == "Linux"']


@pytest.fixture
def server():
    with IndexServer() as srv:
        yield srv


def _file(srv: IndexServer, version: str):
    files = project_files(srv.index_url, "vllm")
    return next(f for f in files if f.filename.startswith(f"vllm-{version}-"))


def _assert_partial(srv: IndexServer, path: str) -> None:
    """No request downloaded the whole wheel: far fewer bytes went out than its size."""
    assert 0 < srv.bytes_served[path] < len(srv.blobs[path]) // 2


@pytest.mark.parametrize("html_only", [False, True])
def test_project_files_json_and_html(html_only):
    with IndexServer(html_only=html_only) as srv:
        srv.add_wheel("vllm", "0.9.0", TORCH, pep658=True)
        srv.add_wheel("vllm", "0.8.5", TORCH, pep658=False, yanked="broken build")
        files = project_files(srv.index_url, "VLLM")
    by_name = {f.filename.split("-")[1]: f for f in files}
    new, old = by_name["0.9.0"], by_name["0.8.5"]
    assert new.url.startswith("http://127.0.0.1:") and new.url.endswith("/files/" + new.filename)
    assert new.has_metadata and set(new.metadata_hashes) == {"sha256"}
    assert not old.has_metadata and old.yanked and old.yanked_reason == "broken build"
    assert not new.yanked and new.requires_python == ">=3.9"
    assert len(new.hashes["sha256"]) == 64


def test_pep658_path_reads_metadata_file(server):
    path = server.add_wheel("vllm", "0.9.0", ["torch==2.7.0"], pep658=True, padding=300_000)
    msg, source = read_metadata(_file(server, "0.9.0"))
    assert source == "pep658"
    assert msg.get_all("Requires-Dist") == ["torch==2.7.0"]
    assert server.bytes_served[path] == 0  # the wheel itself was never touched


def test_pep658_hash_mismatch_is_refused(server):
    good = metadata_text("vllm", "0.9.0", ["torch==2.7.0"], ">=3.9").encode()
    body = build_wheel("vllm", "0.9.0", good.decode())
    name = "vllm-0.9.0-cp38-abi3-manylinux1_x86_64.whl"
    server.add_file("vllm", name, body, metadata=good, metadata_served=good + b"tampered")
    with pytest.raises(IndexFetchError, match=r"\.metadata: sha256 mismatch"):
        wheel_metadata(_file(server, "0.9.0"))


def test_wheel_path_metadata_in_tail(server):
    path = server.add_wheel("vllm", "0.8.5.post1", TORCH, pep658=False, padding=400_000)
    msg, source = read_metadata(_file(server, "0.8.5.post1"))
    assert source == "wheel"
    assert msg["Requires-Python"] == ">=3.9"
    assert msg.get_all("Requires-Dist") == TORCH
    _assert_partial(server, path)
    assert [r for p, r in server.requests if p == path] == ["bytes=-65536"]  # one tail fetch


def test_wheel_path_central_directory_beyond_tail(server):
    # ~4000 entries make a central directory of ~400 KiB: the 64 KiB tail holds only its end.
    path = server.add_wheel("vllm", "0.8.4", TORCH, pep658=False, padding=1_000_000, entries=4000)
    msg, source = read_metadata(_file(server, "0.8.4"))
    assert (source, msg["Version"]) == ("wheel", "0.8.4")
    ranges = [r for p, r in server.requests if p == path]
    assert len(ranges) == 4  # tail, central directory, local header, member
    _assert_partial(server, path)


def test_wheel_path_zip64(server, monkeypatch):
    # Force zipfile to write zip64 end records and extra fields, as multi-GB wheels have.
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 2)
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 1000)
    path = server.add_wheel("vllm", "0.7.0", TORCH, pep658=False, padding=200_000, entries=50)
    assert b"PK\x06\x06" in server.blobs[path][-200:]
    msg, _ = read_metadata(_file(server, "0.7.0"), tail_bytes=1024)
    assert msg.get_all("Requires-Dist") == TORCH
    _assert_partial(server, path)


def test_probe_finds_unadvertised_metadata_and_falls_back(server):
    with_meta = server.add_wheel("vllm", "0.9.0", ["torch==2.7.0"], pep658=True)
    server.entries["vllm"][0].metadata_sha256 = None  # a mirror that strips the attribute
    without = server.add_wheel("vllm", "0.9.1", ["torch==2.7.0"], pep658=False, padding=300_000)
    assert read_metadata(_file(server, "0.9.0"), probe=True)[1] == "pep658"
    assert read_metadata(_file(server, "0.9.1"), probe=True)[1] == "wheel"
    assert server.bytes_served[with_meta] == 0
    _assert_partial(server, without)


def test_server_ignoring_range_is_refused():
    with IndexServer(honour_range=False) as srv:
        srv.add_wheel("vllm", "0.8.5", TORCH, pep658=False, padding=2_000_000)
        wheel = _file(srv, "0.8.5")
        with pytest.raises(IndexFetchError, match=r"got HTTP 200 instead of 206.*refusing") as exc:
            wheel_metadata(wheel)
    assert str(exc.value).startswith(wheel.url)


def test_errors_name_the_url(server):
    server.add_wheel("vllm", "0.9.0", TORCH, pep658=False)
    with pytest.raises(IndexFetchError, match=r"/simple/nope/: HTTP 404"):
        project_files(server.index_url, "nope")
    missing = _file(server, "0.9.0")
    del server.blobs[f"/files/{missing.filename}"]
    with pytest.raises(IndexFetchError, match=missing.url):
        wheel_metadata(missing)
