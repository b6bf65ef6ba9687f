"""gpufleet.serve: server specs from host data, argv per vLLM version, auto sizing."""

import runpy

import pytest

from gpufleet.config import ConfigError, defaults
from gpufleet.gpus import lookup
from gpufleet.serve import ServerSpec, Sizing, argv, flags_for, model_size, server_specs, size
from gpufleet.services import systemd_quote

QWEN3_06B = {  # Qwen3-Embedding-0.6B config.json (the fields sizing reads)
    "hidden_size": 1024,
    "num_hidden_layers": 28,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "intermediate_size": 3072,
    "vocab_size": 151669,
    "tie_word_embeddings": True,
    "max_position_embeddings": 32768,
}


def _data(**overrides):
    data = {**defaults(), **runpy.run_path("group_data/embedding.py")}
    data.update(runpy.run_path("group_data/chat.py"))
    return {k: v for k, v in {**data, **overrides}.items() if not k.startswith("_")}


@pytest.mark.parametrize(
    ("vllm", "expected"),
    [
        ("0.8.5.post1", ["--task", "embed"]),
        ("0.10.0", ["--task", "embed"]),
        ("0.10.1", ["--runner", "pooling", "--convert", "embed"]),
        ("0.19.1", ["--runner", "pooling", "--convert", "embed"]),
    ],
)
def test_embed_flags_follow_the_rename(vllm, expected):
    assert flags_for("embed", vllm) == expected


def test_notes_embedding_command_line():
    spec = server_specs("gpu01", _data(serve_chat=False).get)[0]
    args = argv(spec, "0.8.5.post1", "half", size(spec, 32768, "half", None))
    assert args == [
        "serve", "/opt/models/qwen3-embedding", "--task", "embed",
        "--served-model-name", "qwen3-embedding", "--host", "0.0.0.0", "--port", "8000",
        "--dtype", "half", "--tensor-parallel-size", "4", "--max-model-len", "512",
        "--gpu-memory-utilization", "0.5", "--max-num-batched-tokens", "8192",
        "--max-num-seqs", "16",
    ]  # fmt: skip


def test_very_old_vllm_uses_the_api_server_module():
    spec = ServerSpec("e", "chat", "/m", "m", 8001, "0")
    args = argv(spec, "0.4.2", "half", Sizing(0.9, None, None))
    assert args[:4] == ["-m", "vllm.entrypoints.openai.api_server", "--model", "/m"]


def test_two_servers_on_one_host_may_not_share_gpus_or_ports():
    servers = [
        {"role": "embedding", "name": "a", "model_path": "/m/a", "served_model_name": "a",
         "gpus": "0", "port": 8000},
        {"role": "embedding", "name": "b", "model_path": "/m/b", "served_model_name": "b",
         "gpus": "0", "port": 8002},
    ]  # fmt: skip
    with pytest.raises(ConfigError, match="GPU 0 given to two servers"):
        server_specs("gpu01", _data(vllm_servers=servers).get)
    servers[1]["gpus"] = "1"
    assert [s.name for s in server_specs("gpu01", _data(vllm_servers=servers).get)] == ["a", "b"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"role": "rerank"}, "role one of"),
        ({"role": "chat", "gpus": "0,1", "tensor_parallel_size": 4}, "tensor_parallel_size 4"),
        ({"role": "chat", "port": "8001"}, "must be int"),
        ({"role": "chat", "flag": 1}, "unknown setting"),
    ],
)
def test_bad_server_entries_are_refused_with_the_rule(entry, message):
    base = {"model_path": "/m", "served_model_name": "m", "gpus": "0"}
    with pytest.raises(ConfigError, match=message):
        server_specs("gpu01", _data(vllm_servers=[{**base, **entry}]).get)


def test_auto_sizing_from_config_json_explains_the_numbers():
    spec = ServerSpec(
        "embedding", "embedding", "/m", "q", 8000, "0", max_model_len=512,
        gpu_memory_utilization="auto", max_num_seqs="auto", max_num_batched_tokens="auto",
    )  # fmt: skip
    v100 = lookup("Tesla V100-SXM2-32GB")
    sized = size(spec, v100.vram_mib, "half", model_size(QWEN3_06B))
    assert 0.1 <= sized.gpu_memory_utilization <= 0.2  # a 0.6B model needs little of 32 GiB
    assert sized.max_num_seqs == 32 and sized.max_num_batched_tokens == 16384
    assert len(sized.reasons) == 4 and "config.json" in sized.reasons[0]
    assert 0.55e9 < model_size(QWEN3_06B).params < 0.65e9


def test_chat_sizing_on_p40_float32_fits_fewer_sequences():
    spec = ServerSpec("chat", "chat", "/m", "c", 8001, "0,1,2,3", max_model_len=8192,
                      gpu_memory_utilization=0.95, max_num_seqs="auto",
                      max_num_batched_tokens="auto", model_params_b=7)  # fmt: skip
    p40 = size(spec, lookup("Tesla P40").vram_mib, "float32", None)
    v100 = size(spec, lookup("Tesla V100-SXM2-32GB").vram_mib, "half", None)
    assert p40.max_num_seqs < v100.max_num_seqs


def test_auto_without_a_model_size_is_refused():
    spec = ServerSpec("chat", "chat", "/m", "c", 8001, "0", max_num_seqs="auto")
    with pytest.raises(ValueError, match="needs the model size"):
        size(spec, 32768, "half", None)


def test_systemd_quoting():
    assert systemd_quote("/opt/x/bin/vllm") == "/opt/x/bin/vllm"
    assert systemd_quote('say "hi" $HOME') == '"say \\"hi\\" $$HOME"'
