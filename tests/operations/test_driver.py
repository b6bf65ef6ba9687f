"""gpufleet.operations.download, .driver and .toolkit as data: host facts -> commands expected."""

from __future__ import annotations

import hashlib
import subprocess

import pytest
from pyinfra.api import OperationError
from pyinfra.context import ctx_host

from gpufleet.operations.download import fetch_script
from tests.operations.scenarios import FakeHost, Scenario, check, run, scenarios

MODULES = ("download", "driver", "toolkit")


@pytest.mark.parametrize("scenario", [p for m in MODULES for p in scenarios(m)])
def test_scenario(scenario: Scenario) -> None:
    fake = check(scenario)
    if not scenario.data["commands"]:
        assert fake.noops, "an operation with nothing to do says so"


def _scenario(module: str, op: str, args: dict, facts: dict) -> Scenario:
    return Scenario(module, op, "inline", {"args": args, "facts": facts, "host": "gpu07"})


DRIVER = {
    "version": "580.159.04",
    "branch": "580",
    "kernel_module": "proprietary",
    "url": "http://mirror.lab/d/580.159.04/NVIDIA-Linux-x86_64-580.159.04.run",
    "downloads_dir": "/var/cache/gpufleet",
    "sha256_url": "http://mirror.lab/d/580.159.04/NVIDIA-Linux-x86_64-580.159.04.run.sha256sum",
}
BUSY = [{"pid": 433, "process_name": "python3", "used_memory_mib": 1634}]


def test_driver_change_refused_while_gpu_processes_run() -> None:
    facts = {"InstalledDriver": {"version": "550.54.15", "kernel_module": "proprietary"}}
    with pytest.raises(OperationError) as error:
        run(_scenario("driver", "installed", DRIVER, {**facts, "GpuProcesses": BUSY}))
    assert str(error.value) == (
        "gpu07: driver 550.54.15 -> 580.159.04: GPU processes running (433 (python3)); "
        "refusing to change the driver (set force_driver_change=True to override)"
    )


def test_no_checksum_for_the_file_is_an_error_naming_host_and_url() -> None:
    facts = {"InstalledDriver": None, "PublishedSha256": {"other.run": "ab" * 32}}
    with pytest.raises(OperationError, match=r"^gpu07: NVIDIA-Linux-x86_64-580.159.04.run: no sha"):
        run(_scenario("driver", "installed", DRIVER, facts))


def test_fetch_script_refuses_a_mismatch_and_leaves_nothing(tmp_path) -> None:
    """The script the download operation yields, run for real against a file:// URL."""
    source = tmp_path / "x.run"
    source.write_text("echo tampered\n")
    dest = tmp_path / "cache" / "x.run"
    with ctx_host.use(FakeHost({}, "gpu07")):
        script = fetch_script(f"file://{source}", str(dest), "ab" * 32)
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.startswith(f"gpu07: x.run: sha256 mismatch: expected {'ab' * 32}, got ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "cache").exists()  # created by the script, removed with the temp file

    good = hashlib.sha256(source.read_bytes()).hexdigest()
    with ctx_host.use(FakeHost({}, "gpu07")):
        script = fetch_script(f"file://{source}", str(dest), good)
    assert subprocess.run(["sh", "-c", script]).returncode == 0
    assert dest.read_text() == "echo tampered\n"
    assert [p.name for p in dest.parent.iterdir()] == ["x.run"]
