"""Serving-flag validation (gpufleet/flags.py): each rule refuses what it should, names the host,
the server, the value, the rule and its source, and lets through what runs."""

import json

import pytest

from gpufleet.config import ConfigError, defaults
from gpufleet.flags import check_gpus, effective, refusals, rules
from gpufleet.gpus import lookup
from gpufleet.preflight import PreflightRefused, check_host
from gpufleet.serve import ServerSpec, server_specs

V100 = lookup("Tesla V100-SXM2-32GB")
P40 = lookup("Tesla P40")
T4 = lookup("Tesla T4")
A100 = lookup("NVIDIA A100-SXM4-40GB")


def _spec(**kw) -> ServerSpec:
    return ServerSpec("chat", "chat", "/opt/models/chat", "chat", 8001, "0", **kw)


def test_every_rule_row_cites_a_source():
    for section in ("dtype", "quantization", "flags", "flag_gpu"):
        assert rules()[section], section
        assert all(row["source"].strip() for row in rules()[section]), section
    assert set(rules()["model"]) == {"max_model_len", "tp_heads", "tp_gpus"}


def test_bf16_refused_below_sm80_allowed_from_sm80():
    [line] = refusals("gpu01", _spec(dtype="bfloat16"), V100, "0.8.5.post1", "half")
    assert line.startswith("gpu01: chat: dtype='bfloat16' on Tesla V100-SXM2-32GB (sm_70)")
    assert "needs compute capability >= 8.0 (rule: dtype; source: " in line
    assert refusals("gpu01", _spec(dtype="bfloat16"), A100, "0.8.5.post1", "bfloat16") == []
    # the solver's dtype counts when the server says auto; extra_args override both
    assert refusals("gpu01", _spec(), V100, "0.8.5.post1", "bfloat16")
    assert refusals("gpu01", _spec(extra_args=("--dtype=bfloat16",)), V100, "0.8.5.post1", "half")


@pytest.mark.parametrize(
    ("gpu", "method", "refused"),
    [
        (V100, "awq", True),  # the notes' "AWQ likely unsupported" on V100
        (T4, "awq", False),
        (V100, "gptq", False),
        (P40, "gptq", True),  # below Volta, the table's lowest column
        (V100, "gptq_marlin", True),
        (A100, "gptq_marlin", False),
        (T4, "fp8", True),
        (V100, "compressed-tensors", False),  # outside the table: depends on the checkpoint
    ],
)
def test_quantization_against_the_supported_hardware_table(gpu, method, refused):
    spec = _spec(extra_args=("--quantization", method))
    found = refusals("gpu01", spec, gpu, "0.8.5.post1", "half")
    assert bool(found) == refused
    if refused:
        assert f"quantization={method!r} on {gpu.name} ({gpu.sm})" in found[0]
        assert "rule: quantization; source: vLLM docs" in found[0]


def test_chunked_prefill_in_fp16_on_pre_ampere_refused_float32_allowed():
    spec = _spec(enable_chunked_prefill=True)
    [line] = refusals("gpu02", spec, V100, "0.8.5.post1", "half")
    assert "--enable-chunked-prefill with dtype='half' on Tesla V100-SXM2-32GB (sm_70)" in line
    assert "rule: flag-gpu; source: vllm-project/vllm#11352" in line
    assert refusals("gpu02", spec, P40, "0.8.5.post1", "float32") == []
    assert refusals("gpu02", spec, A100, "0.8.5.post1", "bfloat16") == []


def test_flags_a_release_does_not_have_are_refused():
    [line] = refusals("gpu01", _spec(enforce_eager=True), V100, "0.2.1", "half")
    assert "--enforce-eager with vLLM 0.2.1: the flag exists in vLLM >=0.2.6" in line
    extra = _spec(extra_args=("--enable-chunked-prefill",))
    assert "rule: flag-version" in refusals("gpu01", extra, P40, "0.3.3", "float32")[0]
    assert refusals("gpu01", _spec(enforce_eager=True), V100, "0.8.5.post1", "half") == []


def test_model_config_limits_max_model_len_and_tp():
    config = {"max_position_embeddings": 2048, "num_attention_heads": 4}
    [line] = refusals("gpu01", _spec(max_model_len=4096), V100, "0.8.5.post1", "half", config)
    assert "max_model_len=4096 exceeds the model's max_position_embeddings 2048" in line
    spec = ServerSpec("chat", "chat", "/m", "chat", 8001, "0,1,2", max_model_len=2048)
    [line] = refusals("gpu01", spec, V100, "0.8.5.post1", "half", config)
    assert "tensor_parallel_size=3 does not divide the model's 4 attention heads" in line
    nested = {"text_config": config}
    assert refusals("gpu01", _spec(max_model_len=8192), V100, "0.8.5.post1", "half", nested)


def test_effective_reads_extra_args_over_named_settings():
    spec = _spec(max_model_len=512, extra_args=("--max-model-len", "1024", "-tp", "2"))
    run = effective(spec, "half")
    assert (run["max_model_len"], run["tp"], run["dtype"]) == (1024, 2, "half")


def test_gpus_beyond_the_hosts_gpu_count_are_refused():
    spec = ServerSpec("embedding", "embedding", "/m", "e", 8000, "4,5,6,7")
    with pytest.raises(ConfigError, match=r"GPU 4 is not one of the host's 4 \(gpu_count\)"):
        check_gpus("gpu01", spec, 4, "vllm_servers[0]")
    check_gpus("gpu01", spec, 8, "vllm_servers[0]")
    check_gpus("gpu01", spec, None, "vllm_servers[0]")  # unknown count: nothing to check
    get = {**defaults(), "serve_embedding": True, "gpu_count": 4}
    get["embedding_server"] = {"model_path": "/m", "served_model_name": "e", "gpus": "4,5,6,7"}
    with pytest.raises(ConfigError, match=r"gpu01: vllm_servers\[0\]\.gpus='4,5,6,7'"):
        server_specs("gpu01", get.get)


class FakeState:
    """pyinfra's State stand-in: only its identity keys one run."""


def test_preflight_refuses_a_bad_flag_before_any_host_is_touched(tmp_path):
    model = tmp_path / "chat"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"max_position_embeddings": 1024}))
    chat = {
        "model_path": "/opt/models/chat",
        "model_source": str(model),
        "served_model_name": "chat",
        "gpus": "0",
        "max_model_len": 4096,
        "dtype": "bfloat16",
        "extra_args": ["--quantization", "awq"],
    }
    good = {**defaults(), "gpu": "Tesla V100-SXM2-32GB"}
    bad = {**good, "serve_chat": True, "chat_server": chat}
    state = FakeState()
    assert check_host(state, "gpu01", good.get, 2).ok
    with pytest.raises(PreflightRefused) as refused:
        check_host(state, "gpu02", bad.get, 2)
    lines = str(refused.value).splitlines()
    assert lines[0] == "1 of 2 hosts refused; nothing was changed on any host"
    assert len(lines) == 2 and lines[1].startswith("gpu02: chat: dtype='bfloat16'")
    for part in ("quantization='awq'", "max_model_len=4096", "rule: dtype", "rule: quantization"):
        assert part in lines[1]
