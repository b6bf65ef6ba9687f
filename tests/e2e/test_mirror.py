"""Every host reaches the sandbox mirror at the one URL the inventory gives it."""

import json
import subprocess

from sandbox import mirror, simple_index
from tests.e2e.helpers import on_host


def test_each_host_fetches_the_check_file_over_ssh(sandbox_cluster):
    url = f"{sandbox_cluster.mirror.url}/{mirror.PING_PATH}"
    for host in sandbox_cluster.hosts:
        result = on_host(sandbox_cluster, host, f"curl -fsS {url}")
        assert result.stdout == mirror.PING_TEXT, (host.name, result.stderr)


def test_each_netns_reaches_the_mirror(sandbox_cluster):
    url = f"{sandbox_cluster.mirror.url}/{mirror.PING_PATH}"
    for host in sandbox_cluster.hosts:
        result = subprocess.run(
            ["ip", "netns", "exec", host.netns, "curl", "-fsS", url],
            capture_output=True,
            text=True,
        )
        assert result.stdout == mirror.PING_TEXT, (host.name, result.stderr)


def test_range_request_from_a_host_gets_206_and_is_logged(sandbox_cluster):
    host = sandbox_cluster.hosts[0]
    url = f"{sandbox_cluster.mirror.url}/{mirror.PING_PATH}"
    result = on_host(sandbox_cluster, host, f"curl -sS -r 0-7 -w ' %{{http_code}}' {url}")
    assert result.stdout == mirror.PING_TEXT[:8] + " 206"
    last = [r for r in mirror.read_log() if r["client"] == host.address][-1]
    assert (last["status"], last["bytes"], last["range"]) == (206, 8, "bytes=0-7")


def test_simple_index_speaks_json_and_html(sandbox_cluster):
    wheel = "gpufleet_probe-1.0-py3-none-any.whl"
    project = mirror.path_for_url("/simple/gpufleet-probe/")
    mirror.add_file(f"/simple/gpufleet-probe/{wheel}", b"not really a zip")
    mirror.add_file(f"/simple/gpufleet-probe/{wheel}.metadata", b"Name: gpufleet-probe\n")
    try:
        host = sandbox_cluster.hosts[-1]
        base = f"{sandbox_cluster.mirror.url}/simple/gpufleet-probe/"
        accept = f"-H 'Accept: {simple_index.JSON_TYPE}'"
        page = json.loads(on_host(sandbox_cluster, host, f"curl -fsS {accept} {base}").stdout)
        assert [f["filename"] for f in page["files"]] == [wheel]
        assert page["files"][0]["core-metadata"] is not False
        html = on_host(sandbox_cluster, host, f"curl -fsS {base}").stdout
        assert f'href="{wheel}#sha256=' in html and "data-core-metadata" in html
    finally:
        for p in project.iterdir():
            p.unlink()
        project.rmdir()
