"""`gpufleet plan` keeps the JSON contract of DESIGN.md and its exit codes."""

import json
from pathlib import Path

from gpufleet.cli import main

REPO = Path(__file__).resolve().parent.parent
STACK_KEYS = {
    "driver_branch",
    "driver_version",
    "cuda_toolkit",
    "torch",
    "torch_cuda",
    "vllm",
    "vllm_source",
    "xformers",
    "xformers_build",
    "python",
    "dtype",
}


def _plan_json(capsys, *args):
    code = main(["plan", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_plan_v100_with_vllm_0_8_5_post1_prints_the_contract(capsys):
    code, out = _plan_json(capsys, "--gpu", "Tesla V100-SXM2-32GB", "--vllm", "0.8.5.post1")
    assert code == 0
    assert set(out) == {"ok", "gpu", "stack", "reasons", "error"}
    assert out["ok"] is True and out["error"] is None
    assert out["gpu"] == {"name": "Tesla V100-SXM2-32GB", "compute_capability": "7.0"}
    assert set(out["stack"]) == STACK_KEYS
    assert out["stack"]["torch"] == "2.6.0" and out["stack"]["torch_cuda"] == "cu124"
    assert out["stack"]["dtype"] == "half"
    assert all(isinstance(r, str) for r in out["reasons"]) and out["reasons"]


def test_plan_by_pci_id(capsys):
    code, out = _plan_json(capsys, "--gpu", "10de:1b38")
    assert code == 0
    assert out["gpu"]["name"] == "Tesla P40"
    assert out["stack"]["dtype"] == "float32"


def test_refused_plan_exits_2_with_the_rule(capsys):
    code, out = _plan_json(capsys, "--gpu", "Tesla V100-SXM2-32GB", "--torch", "2.7.1+cu128")
    assert code == 2
    assert out["ok"] is False and out["stack"] is None
    assert "rule: torch-arch" in out["error"]


def test_unknown_gpu_is_refused_not_guessed(capsys):
    code, out = _plan_json(capsys, "--gpu", "Tesla V900")
    assert code == 2
    assert out["gpu"] is None
    assert "Tesla V900" in out["error"]


def test_plan_text_output_explains_the_choice(capsys):
    assert main(["plan", "--gpu", "Tesla P40"]) == 0
    out = capsys.readouterr().out
    assert "pascal-index" in out and "float32" in out and "  - " in out


def test_plan_inventory_prints_one_row_per_host(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert main(["plan", "inventories/lab.py"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["host", "gpu", "driver", "toolkit"]
    rows = [line for line in lines[2:] if line.strip()]
    assert [row.split()[0] for row in rows] == [f"gpu0{i}" for i in range(1, 7)]
    assert all("REFUSED" not in row for row in rows)


def test_plan_inventory_json_refuses_a_bad_host_by_name(capsys, tmp_path, monkeypatch):
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data" / "all.py").write_text((REPO / "group_data/all.py").read_text())
    (tmp_path / "lab.py").write_text(
        'good = [("gpu01", {"gpu": "Tesla T4"})]\n'
        'bad = [("gpu03", {"gpu": "Tesla P40", "vllm_version": "0.11.0"})]\n'
    )
    monkeypatch.chdir(tmp_path)
    code, out = _plan_json(capsys, "lab.py")
    assert code == 2
    by_host = {row["host"]: row for row in out}
    assert by_host["gpu01"]["ok"] is True
    assert by_host["gpu03"]["error"].startswith("gpu03: Tesla P40 (sm_61) with vLLM 0.11.0")
    assert "rule: vllm-min-cc" in by_host["gpu03"]["error"]


def test_plan_needs_an_inventory_or_a_gpu(capsys):
    assert main(["plan"]) == 2
    assert "inventory" in capsys.readouterr().err


def test_matrix_show_lists_releases(capsys):
    assert main(["matrix", "show"]) == 0
    out = capsys.readouterr().out
    assert "0.8.5.post1" in out and "2.6.0" in out


def test_missing_inventory_is_a_clear_error(capsys):
    assert main(["plan", "nope.py"]) == 2
    assert capsys.readouterr().err.strip() == "gpufleet plan: nope.py: no such inventory file"
