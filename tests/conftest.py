"""Shared pytest setup: the `e2e` marker's skip rule and the session's sandbox cluster.

Tests under tests/e2e/ are marked `e2e` automatically. They are skipped only where the sandbox
cannot run at all (not root, or no systemd-nspawn and no apt-get to install it): CI runs as root
on a Debian box, so there they run. `make test-fast` deselects them with -m "not e2e".
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
E2E_DIR = REPO / "tests" / "e2e"
SANDBOX_HOSTS = 3


def _e2e_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "e2e tests need root (overlay mounts, network namespaces, systemd-nspawn)"
    if shutil.which("systemd-nspawn") is None and shutil.which("apt-get") is None:
        return "e2e tests need systemd-nspawn (package systemd-container), and no apt-get here"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _e2e_unavailable()
    for item in items:
        if item.path.is_relative_to(E2E_DIR):
            item.add_marker(pytest.mark.e2e)
        if reason and item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def sandbox_cluster():
    """The sandbox's ClusterState: `up 3` once per session (reusing a running cluster), `down`
    at the end unless GPUFLEET_KEEP_SANDBOX=1."""
    subprocess.run(
        [sys.executable, "-m", "sandbox", "up", str(SANDBOX_HOSTS)], cwd=REPO, check=True
    )
    from sandbox import state

    current = state.load()
    assert current is not None and len(current.hosts) == SANDBOX_HOSTS
    yield current
    if os.environ.get("GPUFLEET_KEEP_SANDBOX") != "1":
        subprocess.run([sys.executable, "-m", "sandbox", "down"], cwd=REPO, check=True)
