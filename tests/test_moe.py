"""Fused-MoE configs (gpufleet/moe.py): vLLM's file naming, one job per GPU model and shape,
the tuning script's output parsed and saved, and which files go into which env."""

import json
from types import SimpleNamespace

import pytest

from gpufleet import moe

QWEN3_30B_A3B = {"num_experts": 128, "moe_intermediate_size": 768, "intermediate_size": 6144}


def test_file_names_follow_vllms_get_config_file_name():
    # float32 has its own configs (vLLM's _get_config_dtype_str); fp16/bf16 share the plain name
    assert moe.config_file_name(128, 192, "Tesla P40", "float32") == (
        "E=128,N=192,device_name=Tesla_P40,dtype=float32.json"
    )
    assert moe.config_file_name(128, 192, "Tesla V100-SXM2-32GB", "half") == (
        "E=128,N=192,device_name=Tesla_V100-SXM2-32GB.json"
    )


def test_shape_divides_the_expert_intermediate_size_by_tp():
    assert moe.moe_shape(QWEN3_30B_A3B, tp=4) == (128, 192)  # moe_intermediate_size wins
    assert moe.moe_shape({"num_local_experts": 8, "intermediate_size": 14336}, 2) == (8, 7168)
    assert moe.moe_shape(
        {"text_config": {"n_routed_experts": 64, "moe_intermediate_size": 1408}}, 1
    )
    assert moe.moe_shape({"intermediate_size": 11008}, 1) is None  # dense


def _hosts():
    v100 = {"gpu": "Tesla V100-SXM2-32GB", "vllm_version": "0.8.5.post1", "python_version": "3.11"}
    p40 = {**v100, "gpu": "Tesla P40"}
    return [("gpu01", v100), ("gpu02", v100), ("gpu05", p40)]


def test_one_job_per_gpu_model_on_its_first_host(tmp_path, monkeypatch):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(QWEN3_30B_A3B))
    inventory = "inv.py"  # read through moe.hosts, replaced here by the hosts' data
    monkeypatch.setattr(moe, "hosts", _fake_hosts(_hosts()))
    jobs = moe.plan_jobs(inventory, str(model), tp=4)
    assert [(j.host, j.gpu, j.dtype) for j in jobs] == [
        ("gpu01", "Tesla V100-SXM2-32GB", "half"),
        ("gpu05", "Tesla P40", "float32"),
    ]
    assert jobs[0].file_name == "E=128,N=192,device_name=Tesla_V100-SXM2-32GB.json"
    assert jobs[1].file_name == "E=128,N=192,device_name=Tesla_P40,dtype=float32.json"
    assert jobs[0].env_path == "/opt/gpufleet/envs/vllm-0.8.5.post1-torch-2.6.0-cu124"
    assert moe.plan_jobs(inventory, str(model), tp=4, limit={"gpu02"})[0].host == "gpu02"


def _fake_hosts(entries):
    from gpufleet.config import defaults

    def hosts(_path):
        return [(name, {**defaults(), **data}.get) for name, data in entries]

    return hosts


def test_a_dense_model_is_refused(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text(json.dumps({"intermediate_size": 11008}))
    monkeypatch.setattr(moe, "hosts", _fake_hosts(_hosts()[:1]))
    with pytest.raises(moe.MoeError, match=r"gpu01: .*config\.json names no experts"):
        moe.plan_jobs("inv.py", str(tmp_path))


def test_the_script_checks_the_env_and_its_output_is_saved_under_the_vllm_version(tmp_path):
    job = moe.TuneJob(
        "gpu01", "10.0.0.1", "Tesla P40", "0.8.5.post1", "/opt/gpufleet/envs/e", 8, 128, 1,
        "float32", "{}", "{python} -m tune --model {model} --tp {tp} --output {output}",
        str(tmp_path),
    )  # fmt: skip
    script = moe.tune_script(job)
    assert "test -f /opt/gpufleet/envs/e/.gpufleet-stamp.json ||" in script
    assert "/opt/gpufleet/envs/e/bin/python -m tune --model /tmp/gpufleet-moe-" in script
    lines = ["@@ " + job.file_name, '{"1": {"BLOCK_SIZE_M": 16}}', ""]
    path = moe.save(job, moe.parse_output(lines))
    assert path == tmp_path / "vllm-0.8.5.post1" / job.file_name
    assert json.loads(path.read_text()) == {"1": {"BLOCK_SIZE_M": 16}}
    with pytest.raises(moe.MoeError, match=r"tuning wrote E=8,N=64.*expected E=8,N=128"):
        moe.save(job, {"E=8,N=64,device_name=Tesla_P40.json": {}})


def test_installs_go_to_every_env_of_the_gpu_and_version(tmp_path):
    folder = tmp_path / "vllm-0.8.5.post1"
    folder.mkdir()
    for name in ("E=8,N=128,device_name=Tesla_P40,dtype=float32.json",
                 "E=8,N=128,device_name=Tesla_P40-X.json",
                 "E=8,N=128,device_name=Tesla_V100-SXM2-32GB.json"):  # fmt: skip
        (folder / name).write_text("{}")
    found = moe.configs_for("Tesla P40", "0.8.5.post1", tmp_path)
    assert [p.name for p in found] == ["E=8,N=128,device_name=Tesla_P40,dtype=float32.json"]
    assert moe.configs_for("Tesla P40", "0.10.0", tmp_path) == []

    stack = SimpleNamespace(env_name="vllm-0.10.0-a", vllm="0.10.0", python="3.11")
    stamps = {
        "vllm-0.8.5.post1-b": {"path": "/e/vllm-0.8.5.post1-b",
                               "stack": {"vllm": "0.8.5.post1", "python": "3.11"}},
        "broken": None,
    }  # fmt: skip
    targets = moe.env_targets(stack, "/e", stamps)
    assert [(t.name, t.vllm) for t in targets] == [
        ("vllm-0.10.0-a", "0.10.0"),
        ("vllm-0.8.5.post1-b", "0.8.5.post1"),
    ]
    assert targets[1].configs_dir == (
        "/e/vllm-0.8.5.post1-b/lib/python3.11/site-packages/"
        "vllm/model_executor/layers/fused_moe/configs"
    )
