"""The sandbox mirror over real HTTP on loopback: Range, index pages, the request log."""

import json
import threading
import urllib.error
import urllib.request

import pytest

from sandbox import mirror, simple_index
from sandbox.mirror_http import RangeNotSatisfiable, parse_range


@pytest.mark.parametrize(
    ("header", "span"),
    [
        (None, None),
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 999)),
        ("bytes=-100", (900, 999)),
        ("bytes=-5000", (0, 999)),
        ("bytes=990-2000", (990, 999)),
        ("bytes=0-1,5-9", None),  # several ranges: the whole file is a valid answer
        ("items=0-1", None),
        ("bytes=9-1", None),
    ],
)
def test_parse_range(header, span):
    assert parse_range(header, 1000) == span


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=-0"])
def test_unsatisfiable_range(header):
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 1000)


def test_path_for_url_keeps_the_upstream_path(tmp_path):
    url = "https://download.pytorch.org/whl/cu124/torch/torch-2.6.0%2Bcu124-x.whl"
    assert (
        mirror.path_for_url(url, tmp_path) == tmp_path / "whl/cu124/torch/torch-2.6.0+cu124-x.whl"
    )
    assert mirror.path_for_url("/a/../b", tmp_path) == tmp_path / "a/b"


@pytest.fixture
def served(tmp_path):
    root, log = tmp_path / "tree", tmp_path / "log.jsonl"
    mirror.ensure_tree(root)
    mirror.add_file("/simple/demo/demo-1.0-py3-none-any.whl", bytes(range(256)) * 4, root)
    mirror.add_file("/simple/demo/demo-1.0-py3-none-any.whl.metadata", "Name: demo\n", root)
    server = mirror.Server(root, "127.0.0.1", 0, log)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}", log
    server.shutdown()


def _get(url: str, **headers: str):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_range_gets_206_with_content_range(served):
    base, _ = served
    status, headers, body = _get(f"{base}/simple/demo/demo-1.0-py3-none-any.whl", Range="bytes=-22")
    assert status == 206
    assert headers["Content-Range"] == "bytes 1002-1023/1024"
    assert body == (bytes(range(256)) * 4)[-22:]
    status, headers, _ = _get(f"{base}/simple/demo/demo-1.0-py3-none-any.whl", Range="bytes=5000-")
    assert (status, headers["Content-Range"]) == (416, "bytes */1024")


def test_project_page_negotiates_json_and_html(served):
    base, _ = served
    _, headers, body = _get(f"{base}/simple/Demo/", Accept=simple_index.JSON_TYPE)
    assert headers["Content-Type"] == simple_index.JSON_TYPE
    page = json.loads(body)
    assert [f["filename"] for f in page["files"]] == ["demo-1.0-py3-none-any.whl"]
    assert page["files"][0]["core-metadata"]
    status, headers, body = _get(f"{base}/simple/demo/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'href="demo-1.0-py3-none-any.whl#sha256=' in body
    root = json.loads(_get(f"{base}/simple/", Accept=simple_index.JSON_TYPE)[2])
    assert root["projects"] == [{"name": "demo"}]


def test_every_request_is_logged_with_bytes(served):
    base, log = served
    _get(f"{base}/{mirror.PING_PATH}")
    _get(f"{base}/simple/demo/demo-1.0-py3-none-any.whl", Range="bytes=0-9")
    _get(f"{base}/nope")
    records = mirror.read_log(log)
    assert [(r["path"], r["status"], r["bytes"]) for r in records] == [
        (f"/{mirror.PING_PATH}", 200, len(mirror.PING_TEXT)),
        ("/simple/demo/demo-1.0-py3-none-any.whl", 206, 10),
        ("/nope", 404, 10),
    ]
    assert mirror.bytes_served(log, prefix="/simple/") == 10
