"""`gpufleet report` and tasks/report.py on the sandbox: real values, and nothing changed."""

import json
import subprocess
import sys
from pathlib import Path

from gpufleet import report
from gpufleet.config import defaults
from sandbox import treesum
from tests.e2e.helpers import INVENTORY, REPO, on_host, pyinfra

# The console script installed beside this interpreter (.venv/bin/gpufleet), as a user runs it.
GPUFLEET = str(Path(sys.executable).parent / "gpufleet")
# dpkg is on every host; gcc on none of the minbase image: both answers get checked.
PACKAGES = ("dpkg", "gcc")


def _report_json() -> list[dict]:
    result = subprocess.run(
        [GPUFLEET, "report", INVENTORY, "--json", "--packages", ",".join(PACKAGES)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def _installed(cluster, host, package: str) -> str | None:
    query = f"dpkg-query -W -f='${{db:Status-Status}} ${{Version}}' {package}"
    result = on_host(cluster, host, query)
    status, _, version = result.stdout.partition(" ")
    return version if result.returncode == 0 and status == "installed" else None


def _toolkits(cluster, host) -> dict:
    """What the host's /usr/local/cuda-X.Y/version.json files say, in the report's shape."""
    script = (
        "for d in /usr/local/cuda-[0-9]*; do [ -f $d/version.json ] && "
        "printf '%s ' $d && python3 -c 'import json,sys; "
        'print(json.load(open(sys.argv[1]))["cuda_nvcc"]["version"])\' $d/version.json; done; true'
    )
    toolkits = {}
    for line in on_host(cluster, host, script).stdout.splitlines():
        path, version = line.split()
        toolkits[path.rsplit("-", 1)[1]] = {
            "path": path,
            "version": version,
            "source": "version.json",
        }
    return toolkits


def test_report_json_matches_what_each_host_says(sandbox_cluster):
    rows = {row["host"]: row for row in _report_json()}
    assert set(rows) == {h.name for h in sandbox_cluster.hosts}
    for host in sandbox_cluster.hosts:
        row = rows[host.name]
        assert row["ok"] and row["error"] is None, row
        # No kernel module can load in a container: /proc/driver/nvidia never exists there.
        assert row["driver"] is None
        assert row["toolkits"] == _toolkits(sandbox_cluster, host)
        # No GPU on the PCI bus; a stand-in nvidia-smi, where present, names the host's model.
        assert all(gpu["name"] == host.gpu for gpu in row["gpus"]), row["gpus"]
        holds = on_host(sandbox_cluster, host, "apt-mark showhold").stdout.split()
        assert row["holds"] == sorted(holds)
        for package in PACKAGES:
            installed = _installed(sandbox_cluster, host, package)
            assert row["packages"][package]["installed"] == installed, (host.name, package)
            assert row["packages"][package]["held"] is (package in holds)
        assert row["packages"]["dpkg"]["installed"]  # a real version, not a default


def test_report_task_prints_the_table_and_changes_nothing(sandbox_cluster):
    before = {h.name: treesum.digest(h.upper) for h in sandbox_cluster.hosts}
    result = pyinfra("-y", INVENTORY, "tasks/report.py")
    after = {h.name: treesum.digest(h.upper) for h in sandbox_cluster.hosts}
    assert result.returncode == 0, result.stdout[-3000:]
    assert after == before
    cells = [line.split() for line in result.stdout.splitlines()]
    host_rows = {c[0] for c in cells[cells.index(list(report.HOST_HEADERS)) + 2 :][:3]}
    assert host_rows == {h.name for h in sandbox_cluster.hosts}
    # One package row per host and report_packages entry, with what dpkg says is installed.
    for host in sandbox_cluster.hosts:
        for package in defaults()["report_packages"]:
            row = next(c for c in cells if c[:2] == [host.name, package])
            assert row[2] == (_installed(sandbox_cluster, host, package) or "-"), row
