"""The fleet report: rows from facts, and its text, Markdown and JSON renderings.

Every fact value is parsed by the fact's own process() from the real captured output in
tests/facts/ (the H200 GPU host and the Debian 12 devbox, see tests/facts/captures/README.md).
"""

from __future__ import annotations

import importlib
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from gpufleet import report
from gpufleet.cli import main
from gpufleet.facts.apt import AptPolicy
from gpufleet.facts.cuda import CudaToolkits
from gpufleet.facts.nvidia import NvidiaGpus
from tests.facts.scenarios import FACTS_DIR, gather

# What gather() said of a host with nothing listening on its ssh port.
DOWN = "Could not connect ([Errno None] Unable to connect to port 1 on 127.0.0.1)"


def captured(folder: str, scenario: str) -> Any:
    """The fact value pyinfra would give for tests/facts/<folder>/<scenario>.json's output."""
    module, name = folder.split(".")
    fact_cls = getattr(importlib.import_module(f"gpufleet.facts.{module}"), name)
    data = json.loads((FACTS_DIR / folder / f"{scenario}.json").read_text())
    return gather(fact_cls(), data["output"])


def h200_facts() -> dict[str, Any]:
    """The GPU host: driver 580 (open module), CUDA 13.0 from Ubuntu debs, CUDA libs held."""
    return {
        report.GPUS: captured("nvidia.NvidiaGpus", "h200_driver_580"),
        report.PCI_GPUS: captured("pci.PciGpus", "h200_from_sysfs_ids"),
        report.DRIVER: captured("nvidia.NvidiaDriver", "h200_open_kernel_module_580"),
        report.TOOLKITS: captured("cuda.CudaToolkits", "h200_ubuntu_cuda13_debs_with_alias_link"),
        report.HOLDS: captured("apt.AptHolds", "ubuntu2404_cuda_libs_held"),
        report.package_key("gcc"): captured("apt.AptPolicy", "ubuntu2404_gcc_dpkg_status_only"),
    }


def devbox_facts() -> dict[str, Any]:
    """The Debian 12 box: no GPU, no driver, no nvidia-smi, no toolkit; pciutils held."""
    return {
        report.GPUS: NvidiaGpus().default(),  # what a host without nvidia-smi yields
        report.PCI_GPUS: captured("pci.PciGpus", "debian12_virtio_no_gpu"),
        report.DRIVER: captured("nvidia.NvidiaDriver", "debian12_no_driver_loaded"),
        report.TOOLKITS: CudaToolkits().default(),  # no /usr/local/cuda-X.Y directory
        report.HOLDS: captured("apt.AptHolds", "debian12_one_held"),
        report.package_key("pciutils"): captured("apt.AptPolicy", "debian12_installed_held"),
        report.package_key("openssl"): captured("apt.AptPolicy", "debian12_installed_upgradable"),
        report.package_key("linux-image-amd64"): captured(
            "apt.AptPolicy", "debian12_not_installed"
        ),
    }


def fleet() -> list[report.HostReport]:
    return [
        report.build_report("h200", h200_facts()),
        report.build_report("devbox", devbox_facts()),
        report.build_report("gpu09", {}, DOWN),
    ]


# --- fact_spec ---


def test_fact_spec_asks_apt_policy_once_per_package() -> None:
    spec = report.fact_spec(["nvidia-driver", "gcc"])
    assert spec["apt:nvidia-driver"] == (AptPolicy, {"package": "nvidia-driver"})
    assert spec["apt:gcc"] == (AptPolicy, {"package": "gcc"})
    assert list(spec)[:5] == ["gpus", "pci_gpus", "driver", "toolkits", "holds"]


def test_fact_spec_takes_extra_facts_for_the_stacks_column() -> None:
    spec = report.fact_spec([], extra={report.STACKS: (CudaToolkits, {})})
    assert spec[report.STACKS] == (CudaToolkits, {})


def test_default_packages_come_from_group_data() -> None:
    from gpufleet.config import defaults

    packages = defaults()["report_packages"]
    assert {"gcc", "dkms"} <= set(packages)
    assert all(isinstance(p, str) and p for p in packages)


# --- build_report ---


def test_gpu_host_row_reads_nvidia_smi_driver_toolkits_and_holds() -> None:
    row = report.build_report("h200", h200_facts())
    assert row.ok
    assert row.gpus == (
        {
            "name": "NVIDIA H200",
            "compute_capability": "9.0",
            "memory_mib": 143771,
            "source": "nvidia-smi",
        },
    )
    assert row.driver == {"version": "580.159.04", "kernel_module": "open"}
    assert list(row.toolkits) == ["13.0"]
    assert row.holds == (
        "libcublas-13-0",
        "libcublas-dev-13-0",
        "libcudnn9-cuda-13",
        "libnccl-dev",
        "libnccl2",
    )
    assert row.packages == {
        "gcc": {
            "installed": "4:13.2.0-7ubuntu1",
            "candidate": "4:13.2.0-7ubuntu1",
            "held": False,
            "versions": ["4:13.2.0-7ubuntu1"],
        }
    }
    assert row.stacks is None  # no stacks fact until the post-install check lands


def test_host_without_driver_names_its_gpu_from_the_pci_bus() -> None:
    # The same H200 before its driver: nvidia-smi absent, the GPU still on the bus.
    facts = {**h200_facts(), report.GPUS: NvidiaGpus().default(), report.DRIVER: None}
    row = report.build_report("h200", facts)
    assert row.gpus == (
        {
            "name": "NVIDIA H200",
            "compute_capability": "9.0",
            "pci_id": "10de:2335",
            "source": "pci",
        },
    )
    assert row.driver is None


def test_unknown_pci_id_stays_an_id() -> None:
    device = {**captured("pci.PciGpus", "h200_from_sysfs_ids")[0], "pci_id": "10de:ffff"}
    row = report.build_report("x", {report.GPUS: [], report.PCI_GPUS: [device]})
    assert row.gpus == (
        {"name": None, "compute_capability": None, "pci_id": "10de:ffff", "source": "pci"},
    )


def test_reachable_host_without_gpu_differs_from_unknown() -> None:
    devbox, down = report.build_report("devbox", devbox_facts()), fleet()[2]
    assert (devbox.gpus, devbox.toolkits, devbox.driver) == ((), {}, None)
    assert (down.gpus, down.toolkits, down.holds, down.packages) == (None, None, None, {})
    assert not down.ok and down.error == DOWN


def test_packages_keep_installed_candidate_and_hold() -> None:
    packages = report.build_report("devbox", devbox_facts()).packages
    assert packages["pciutils"]["held"] is True
    assert packages["openssl"]["installed"] == "3.0.19-1~deb12u2"
    assert packages["openssl"]["candidate"] == "3.0.22-1~deb12u2"
    assert packages["linux-image-amd64"]["installed"] is None
    assert list(packages) == ["pciutils", "openssl", "linux-image-amd64"]  # spec order


def test_with_missing_fills_hosts_the_deploy_never_reached() -> None:
    row = report.build_report("h200", h200_facts())
    rows = report.with_missing([("h200", row), ("gpu09", None)])
    assert rows[0] is row
    assert rows[1].host == "gpu09" and not rows[1].ok and rows[1].gpus is None


# --- renderers ---

TEXT = (
    "host    gpus                  driver             toolkits  holds       "
    "                                                                  stacks",
    "------  --------------------  -----------------  --------  ------------"
    "----------------------------------------------------------------  ------",
    "h200    1x NVIDIA H200 (9.0)  580.159.04 (open)  13.0      libcublas-13-0, "
    "libcublas-dev-13-0, libcudnn9-cuda-13, libnccl-dev, libnccl2  -",
    "devbox  -                     -                  -         pciutils  "
    "                                                                    -",
    "gpu09   UNREACHABLE: Could not connect ([Errno "
    "None] Unable to connect to port 1 on 127.0.0.1)",
    "",
    "host    package            installed          candidate          held",
    "------  -----------------  -----------------  -----------------  ----",
    "h200    gcc                4:13.2.0-7ubuntu1  4:13.2.0-7ubuntu1  -",
    "devbox  pciutils           1:3.9.0-4          1:3.9.0-4          held",
    "devbox  openssl            3.0.19-1~deb12u2   3.0.22-1~deb12u2   -",
    "devbox  linux-image-amd64  -                  6.1.192-2          -",
    "gpu09   UNREACHABLE",
)


def test_text_shows_hosts_then_one_row_per_package() -> None:
    assert report.render_text(fleet()).splitlines() == list(TEXT)


MARKDOWN = (
    "### Hosts",
    "",
    "| host | gpus | driver | toolkits | holds | stacks |",
    "| --- | --- | --- | --- | --- | --- |",
    "| h200 | 1x NVIDIA H200 (9.0) | 580.159.04 (open) | 13.0 | libcublas-13-0, "
    "libcublas-dev-13-0, libcudnn9-cuda-13, libnccl-dev, libnccl2 | - |",
    "| devbox | - | - | - | pciutils | - |",
    "| gpu09 | UNREACHABLE: Could not connect ([Errno None] "
    "Unable to connect to port 1 on 127.0.0.1) |  |  |  |  |",
    "",
    "### Packages",
    "",
    "| host | package | installed | candidate | held |",
    "| --- | --- | --- | --- | --- |",
    "| h200 | gcc | 4:13.2.0-7ubuntu1 | 4:13.2.0-7ubuntu1 | - |",
    "| devbox | pciutils | 1:3.9.0-4 | 1:3.9.0-4 | held |",
    "| devbox | openssl | 3.0.19-1~deb12u2 | 3.0.22-1~deb12u2 | - |",
    "| devbox | linux-image-amd64 | - | 6.1.192-2 | - |",
    "| gpu09 | UNREACHABLE |  |  |  |",
)


def test_markdown_is_two_github_tables() -> None:
    assert report.render_markdown(fleet()).splitlines() == list(MARKDOWN)


def test_markdown_escapes_pipes_in_cells() -> None:
    row = report.build_report("gpu09", {}, "ssh: a | b")
    assert "a \\| b" in report.render_markdown([row])


def test_json_is_one_object_per_host() -> None:
    data = json.loads(report.to_json(fleet()))
    assert [d["host"] for d in data] == ["h200", "devbox", "gpu09"]
    assert set(data[0]) == {
        "host", "ok", "error", "gpus", "driver", "toolkits", "holds", "packages", "stacks"
    }  # fmt: skip
    assert data[0]["driver"] == {"version": "580.159.04", "kernel_module": "open"}
    assert data[0]["toolkits"]["13.0"]["path"] == "/usr/local/cuda-13.0"
    assert data[1]["packages"]["pciutils"]["held"] is True
    assert data[1]["gpus"] == [] and data[1]["driver"] is None
    assert data[2] == {**dict.fromkeys(data[2], None), "host": "gpu09", "ok": False,
                       "error": DOWN, "packages": {}}  # fmt: skip


def test_stacks_column_shows_what_its_fact_gives() -> None:
    # The hook for the post-install check: env names as DESIGN.md names them.
    facts = {**devbox_facts(), report.STACKS: {"vllm-0.8.5.post1-torch-2.6.0-cu124": {}}}
    row = report.build_report("devbox", facts)
    assert report.render_text([row]).splitlines()[2].endswith("vllm-0.8.5.post1-torch-2.6.0-cu124")


# --- gpufleet report (CLI) ---


@pytest.fixture
def local_and_down(tmp_path: Path) -> str:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = {"ssh_hostname": "127.0.0.1", "ssh_port": port, "ssh_connect_retries": 0}
    path = tmp_path / "inventory.py"
    path.write_text(f'hosts = ["@local", ("down01", {down!r})]\n')
    return str(path)


def test_cli_json_reports_each_host_and_exits_1_when_one_is_down(capsys, local_and_down) -> None:
    code = main(["report", local_and_down, "--packages", "dpkg", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [(d["host"], d["ok"]) for d in data] == [("@local", True), ("down01", False)]
    assert list(data[0]["packages"]) == ["dpkg"]
    assert "Could not connect" in data[1]["error"]


def test_cli_exits_0_when_every_host_answers(capsys, tmp_path) -> None:
    (tmp_path / "inv.py").write_text('hosts = ["@local"]\n')
    assert main(["report", str(tmp_path / "inv.py"), "--packages", "dpkg", "--markdown"]) == 0
    assert capsys.readouterr().out.startswith("### Hosts\n\n| host | gpus |")


def test_cli_refuses_a_missing_inventory(capsys, tmp_path) -> None:
    assert main(["report", str(tmp_path / "nope.py")]) == 2
    assert "no such inventory file" in capsys.readouterr().err
