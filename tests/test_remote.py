"""gather() reads facts from every host at once and reports a host it cannot reach, or whose
fact command fails, on that host alone. Runs against @local and a closed port on this machine."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from pyinfra.api import FactBase

from gpufleet.inventory import InventoryError
from gpufleet.remote import HostFacts, gather


class Hostname(FactBase):
    """This machine's name, as ``hostname`` prints it."""

    def command(self) -> str:
        return "hostname"

    def process(self, output):
        return output[0].strip()


class Echo(FactBase):
    """Echoes its argument: shows kwargs reach the command."""

    def command(self, word):
        return f"echo {word}"

    def process(self, output):
        return output[0]


class Fails(FactBase):
    """A fact whose command exits non-zero, as a broken apt or a full disk would."""

    def command(self) -> str:
        return "echo broken >&2; exit 3"

    def process(self, output):
        return output


def _closed_port() -> int:
    # Bind then close: nothing listens there for the test's short life.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def inventory(tmp_path: Path) -> str:
    down = {"ssh_hostname": "127.0.0.1", "ssh_port": _closed_port(), "ssh_connect_retries": 0}
    path = tmp_path / "inventory.py"
    path.write_text(f'hosts = ["@local", ("down01", {down!r})]\n')
    return str(path)


def test_reachable_host_answers_every_fact(inventory: str) -> None:
    found = gather(inventory, {"name": (Hostname, {}), "echo": (Echo, {"word": "gpu"})})
    assert list(found) == ["@local", "down01"]
    assert found["@local"] == HostFacts(
        "@local", {"name": socket.gethostname(), "echo": "gpu"}, None
    )


def test_unreachable_host_is_reported_not_raised(inventory: str) -> None:
    found = gather(inventory, {"name": (Hostname, {})})
    assert not found["down01"].ok
    assert "Could not connect" in found["down01"].error
    assert found["down01"].facts == {}


def test_failing_fact_names_the_fact_and_keeps_earlier_ones(inventory: str) -> None:
    found = gather(inventory, {"name": (Hostname, {}), "broken": (Fails, {})})
    local = found["@local"]
    assert local.error is not None and local.error.startswith("could not load fact broken")
    assert local.facts == {"name": socket.gethostname()}


def test_missing_inventory_raises_inventory_error(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="no such inventory file"):
        gather(str(tmp_path / "nope.py"), {})
