"""Helpers for e2e tests (test infrastructure): ssh into sandbox hosts, run pyinfra."""

import subprocess
import sys
from pathlib import Path

from sandbox import ssh
from sandbox.state import ClusterState, HostState

REPO = Path(__file__).resolve().parents[2]
INVENTORY = "inventories/sandbox.py"


def on_host(cluster: ClusterState, host: HostState, command: str) -> subprocess.CompletedProcess:
    """Run `command` as root on `host` over ssh (strict host key checking)."""
    return ssh.run(
        host.address, command, key=cluster.key, known_hosts=cluster.known_hosts, timeout=10
    )


def pyinfra(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`pyinfra ARGS...` from the repo root, as the user would run it; its log (stderr) and
    stdout together in `.stdout`."""
    return subprocess.run(
        [sys.executable, "-m", "pyinfra", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        timeout=600,
    )


def grand_total(output: str) -> dict[str, str]:
    """pyinfra's results line `Grand total  12  -  -  12` -> {"hosts": "12", "success": "-",
    "error": "-", "no_change": "12"} (success counts operations that changed something)."""
    line = next(ln for ln in output.splitlines() if ln.strip().startswith("Grand total"))
    hosts, success, error, no_change = line.split()[2:6]
    return {"hosts": hosts, "success": success, "error": error, "no_change": no_change}
