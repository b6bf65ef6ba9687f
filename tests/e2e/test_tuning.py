"""Serving performance on the sandbox: tune-moe against the stand-in tuning module, its configs
installed into the env; bench-serving on two stacks of one host and --compare between them
(the second run by tasks/bench.py right after the rollout); an invalid flag refused in
preflight with every host's overlay left bit-identical.

One chat host (a P40) only, rolled from OLD to NEW with `--data vllm_version=...`, keeps the
module fast; results and configs go to tmp dirs (`moe_configs_dir`, `bench_results_dir`), never
into the checkout.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gpufleet.compat import Pins
from gpufleet.plan import plan_gpu
from sandbox import treesum
from tests.e2e.helpers import INVENTORY, REPO, grand_total, on_host, pyinfra

OLD, NEW = "0.8.5.post1", "0.10.0"  # both have P40 stacks (community Pascal builds)
MOE_CONFIG = {
    "architectures": ["Qwen3MoeForCausalLM"],
    "model_type": "qwen3_moe",
    "hidden_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_experts": 8,
    "num_experts_per_tok": 2,
    "moe_intermediate_size": 128,
    "max_position_embeddings": 2048,
}
CONFIG_NAME = "E=8,N=128,device_name=Tesla_P40,dtype=float32.json"  # P40 serves float32
WORKLOAD = {
    "input_len": 64,
    "output_len": 32,
    "request_rate": 50,
    "max_concurrency": 4,
    "num_prompts": 16,
}


def _env(vllm: str) -> str:
    return plan_gpu("Tesla P40", Pins(vllm=vllm, python="3.11")).stack.env_name


def _gpufleet(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gpufleet.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def chat_host(sandbox_cluster, tmp_path_factory):
    """The first chat (P40) host, deployed on OLD, and the tmp dirs this module writes."""
    host = next(h for h in sandbox_cluster.hosts if "chat" in h.groups)
    tmp = tmp_path_factory.mktemp("tuning")
    dirs = {"configs": tmp / "moe_configs", "results": tmp / "bench", "model": tmp / "moe"}
    dirs["model"].mkdir()
    (dirs["model"] / "config.json").write_text(json.dumps(MOE_CONFIG))

    def data(vllm: str, **more) -> list[str]:
        values = {
            "vllm_version": vllm,
            "moe_configs_dir": str(dirs["configs"]),
            "bench_results_dir": str(dirs["results"]),
            "bench_workload": json.dumps(WORKLOAD),
            **more,
        }
        return [arg for k, v in values.items() for arg in ("--data", f"{k}={v}")]

    result = pyinfra("-y", "--limit", host.name, INVENTORY, "deploy.py", *data(OLD))
    assert result.returncode == 0, result.stdout[-4000:]
    return sandbox_cluster, host, dirs, data


def test_tune_moe_writes_configs_once_and_the_task_installs_them(chat_host):
    cluster, host, dirs, data = chat_host
    args = ("tune-moe", INVENTORY, "--model", str(dirs["model"]), "--limit", host.name)
    first = _gpufleet(*args, *data(OLD))
    assert first.returncode == 0, first.stderr
    assert f"tuned on {host.name}" in first.stdout
    local = dirs["configs"] / f"vllm-{OLD}" / CONFIG_NAME
    tuned = json.loads(local.read_text())
    assert set(tuned["64"]) >= {"BLOCK_SIZE_M", "BLOCK_SIZE_N", "num_warps", "num_stages"}

    again = _gpufleet(*args, *data(OLD))
    assert again.returncode == 0 and "up to date" in again.stdout
    assert "tuned on" not in again.stdout

    install = pyinfra("-y", "--limit", host.name, INVENTORY, "tasks/moe.py", *data(OLD))
    assert install.returncode == 0, install.stdout[-3000:]
    site = "lib/python3.11/site-packages/vllm/model_executor/layers/fused_moe/configs"
    remote = f"/opt/gpufleet/envs/{_env(OLD)}/{site}/{CONFIG_NAME}"
    assert on_host(cluster, host, f"cat '{remote}'").stdout == local.read_text()
    rerun = pyinfra("-y", "--limit", host.name, INVENTORY, "tasks/moe.py", *data(OLD))
    assert rerun.returncode == 0 and grand_total(rerun.stdout)["success"] == "-"


def test_bench_serving_records_two_stacks_and_compares_them(chat_host):
    _, host, dirs, data = chat_host
    bench = _gpufleet("bench-serving", INVENTORY, "--limit", host.name, *data(OLD))
    assert bench.returncode == 0, bench.stderr + bench.stdout
    [before] = [json.loads(ln) for ln in (dirs["results"] / f"{host.name}.jsonl").open()]
    assert before["stack"] == _env(OLD) and before["errors"] == 0
    assert before["completed"] == WORKLOAD["num_prompts"]
    assert before["ttft_ms"]["p50"] > 0 and before["tpot_ms"]["p50"] > 0
    assert before["output_throughput"] > 0 and before["request_throughput"] > 0

    # the rollout to NEW benchmarks itself at the end (tasks/bench.py, post_rollout_bench)
    roll = pyinfra(
        "-y", "--limit", host.name, INVENTORY, "deploy.py",
        *data(NEW, post_rollout_bench="true"),
    )  # fmt: skip
    assert roll.returncode == 0, roll.stdout[-4000:]
    assert f"Benchmark chat on {_env(NEW)}" in roll.stdout
    records = [json.loads(ln) for ln in (dirs["results"] / f"{host.name}.jsonl").open()]
    after = records[-1]
    assert len(records) == 2 and after["stack"] == _env(NEW) and after["errors"] == 0
    assert "regression" in after and after["tpot_ms"]["p50"] > 0

    compare = _gpufleet("bench-serving", "--compare", "--results-dir", str(dirs["results"]))
    assert compare.returncode == 0, compare.stderr
    rows = [ln.split() for ln in compare.stdout.splitlines()]
    assert [host.name, "chat", "stacks", _env(OLD), _env(NEW)] in rows
    assert any(r[:3] == [host.name, "chat", "verdict"] for r in rows)
    # a second deploy on NEW measures nothing again
    rerun = pyinfra(
        "-y", "--limit", host.name, INVENTORY, "deploy.py",
        *data(NEW, post_rollout_bench="true"),
    )  # fmt: skip
    assert rerun.returncode == 0 and "Benchmark chat" not in rerun.stdout
    assert len(list((dirs["results"] / f"{host.name}.jsonl").open())) == 2


def test_invalid_flags_are_refused_in_preflight_with_no_change(chat_host):
    cluster, host, _, data = chat_host
    before = {h.name: treesum.digest(Path(h.upper)) for h in cluster.hosts}
    server = {
        "role": "chat",
        "name": "chat",
        "model_path": "/opt/models/chat",
        "served_model_name": "chat",
        "gpus": "0",
        "port": 8001,
        "dtype": "bfloat16",
        "extra_args": ["--quantization", "awq"],
    }
    bad = data(NEW, vllm_servers=json.dumps([server]))
    result = pyinfra("-y", "--limit", host.name, INVENTORY, "deploy.py", *bad)
    assert result.returncode != 0
    assert "nothing was changed on any host" in result.stdout
    line = next(ln for ln in result.stdout.splitlines() if f"{host.name}: chat: dtype=" in ln)
    assert "dtype='bfloat16' on Tesla P40 (sm_61)" in line and "rule: dtype" in line
    assert "quantization='awq'" in line and "rule: quantization; source: vLLM docs" in line
    assert {h.name: treesum.digest(Path(h.upper)) for h in cluster.hosts} == before
