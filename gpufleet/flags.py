"""Serving-flag validation: refuse what a server's GPU, vLLM release or model cannot run.

    >>> from gpufleet.gpus import lookup
    >>> spec = ServerSpec("chat", "chat", "/m", "chat", 8001, "0", dtype="bfloat16")
    >>> [line] = refusals("gpu01", spec, lookup("Tesla V100-SXM2-32GB"), "0.8.5.post1", "half")
    >>> print(line.split(": needs")[0])
    gpu01: chat: dtype='bfloat16' on Tesla V100-SXM2-32GB (sm_70)

Rules and their sources are data (matrix.yaml `serving_rules`). Called from preflight
(gpufleet/preflight.py: every server of every host, before any host is touched) and from
gpufleet/serve.py (GPU indices vs `gpu_count`). Each refusal is one line naming the host, the
server, the value, the rule and its source. Flags given in a server's `extra_args`
(`--quantization awq`, `--dtype=bfloat16`) are checked like the named settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from gpufleet.config import ConfigError
from gpufleet.gpus import GpuModel
from gpufleet.matrix import MATRIX_PATH
from gpufleet.serve import AUTO, ServerSpec

_SOURCE_CHARS = 60  # sources are long; the line shows their start (matrix.yaml has the rest)


@cache
def rules() -> dict:
    """matrix.yaml `serving_rules`."""
    return yaml.safe_load(MATRIX_PATH.read_text())["serving_rules"]


def _short(source: str) -> str:
    source = " ".join(source.split())
    return source if len(source) <= _SOURCE_CHARS else source[:_SOURCE_CHARS].rstrip() + " ..."


def extra_flag(args: Sequence[str], *names: str) -> str | None:
    """The value of a flag in argv form: `--x v` or `--x=v`; the last one wins.

    >>> extra_flag(["--quantization", "awq", "-q=gptq"], "--quantization", "-q")
    'gptq'
    """
    found = None
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                found = args[i + 1]
            elif arg.startswith(name + "="):
                found = arg.split("=", 1)[1]
    return found


def effective(spec: ServerSpec, solver_dtype: str) -> dict:
    """What the server will run with: named settings, overridden by flags in extra_args."""
    args = spec.extra_args
    dtype = spec.dtype if spec.dtype != AUTO else solver_dtype
    max_len = extra_flag(args, "--max-model-len")
    tp = extra_flag(args, "--tensor-parallel-size", "-tp")
    return {
        "dtype": extra_flag(args, "--dtype") or dtype,
        "quantization": extra_flag(args, "--quantization", "-q"),
        "max_model_len": int(max_len) if max_len else spec.max_model_len,
        "tp": int(tp) if tp else spec.tp,
        "enable_chunked_prefill": spec.enable_chunked_prefill or "--enable-chunked-prefill" in args,
        "enforce_eager": spec.enforce_eager or "--enforce-eager" in args,
    }


def refusals(
    host: str,
    spec: ServerSpec,
    gpu: GpuModel,
    vllm: str,
    solver_dtype: str,
    model_config: dict | None = None,
) -> list[str]:
    """Every rule `spec` breaks on this GPU and vLLM release ([] when it may run)."""
    run = effective(spec, solver_dtype)
    where = f"{host}: {spec.name}:"
    gpu_name = f"{gpu.name} ({gpu.sm})"
    cc = Version(gpu.compute_capability)
    out = []
    for row in rules()["dtype"]:
        if run["dtype"] == row["dtype"] and cc < Version(row["min_cc"]):
            out.append(
                f"{where} dtype={run['dtype']!r} on {gpu_name}: needs compute capability >= "
                f"{row['min_cc']} (rule: dtype; source: {_short(row['source'])})"
            )
    out += _quantization(where, run["quantization"], gpu_name, cc)
    out += _flags(where, run, vllm, gpu_name, cc)
    out += _model(where, run, model_config)
    return out


def _quantization(where: str, method: str | None, gpu_name: str, cc: Version) -> list[str]:
    if not method:
        return []
    for row in rules()["quantization"]:
        if row["method"] == method.lower() and cc < Version(row["min_cc"]):
            return [
                f"{where} quantization={method!r} on {gpu_name}: needs compute capability >= "
                f"{row['min_cc']} (rule: quantization; source: {_short(row['source'])})"
            ]
    return []  # methods outside the table (compressed-tensors, ...) depend on the checkpoint


def _flags(where: str, run: dict, vllm: str, gpu_name: str, cc: Version) -> list[str]:
    out = []
    for row in rules()["flags"]:
        on = run[row["flag"]]
        if on and not SpecifierSet(row["vllm"]).contains(Version(vllm), prereleases=True):
            flag = "--" + row["flag"].replace("_", "-")
            out.append(
                f"{where} {flag} with vLLM {vllm}: the flag exists in vLLM {row['vllm']} "
                f"(rule: flag-version; source: {_short(row['source'])})"
            )
    for row in rules()["flag_gpu"]:
        if run[row["flag"]] and cc < Version(row["below_cc"]) and run["dtype"] in row["dtypes"]:
            flag = "--" + row["flag"].replace("_", "-")
            out.append(
                f"{where} {flag} with dtype={run['dtype']!r} on {gpu_name}: {row['rule']} "
                f"(rule: flag-gpu; source: {_short(row['source'])})"
            )
    return out


def _model(where: str, run: dict, config: dict | None) -> list[str]:
    if not config:
        return []
    cfg = config.get("text_config", config)
    limits = rules()["model"]
    out = []
    longest = cfg.get("max_position_embeddings")
    if run["max_model_len"] and longest and run["max_model_len"] > longest:
        out.append(
            f"{where} max_model_len={run['max_model_len']} exceeds the model's "
            f"max_position_embeddings {longest} (rule: max-model-len; source: "
            f"{_short(limits['max_model_len'])})"
        )
    heads = cfg.get("num_attention_heads")
    if heads and heads % run["tp"]:
        out.append(
            f"{where} tensor_parallel_size={run['tp']} does not divide the model's "
            f"{heads} attention heads (rule: tp-heads; source: {_short(limits['tp_heads'])})"
        )
    return out


def check_gpus(host: str, spec: ServerSpec, gpu_count: int | None, where: str) -> None:
    """CUDA_VISIBLE_DEVICES names GPUs the host has (indices below `gpu_count`, when known)."""
    if gpu_count is None or spec.gpus == "all":
        return
    missing = [g for g in spec.gpus.split(",") if not g.isdigit() or int(g) >= gpu_count]
    if missing:
        rule = (
            f"GPU {missing[0]} is not one of the host's {gpu_count} (gpu_count) "
            f"(rule: tp-gpus; source: {_short(rules()['model']['tp_gpus'])})"
        )
        raise ConfigError(host, f"{where}.gpus", spec.gpus, rule)


def host_refusals(host: str, get, gpu: GpuModel, vllm: str, solver_dtype: str) -> list[str]:
    """Every refusal for the servers of one host (its settings come from `get`, pyinfra's
    host.data.get); a malformed server setting is one refusal too."""
    from gpufleet.models import read_config
    from gpufleet.serve import server_specs

    try:
        specs = server_specs(host, get)
    except ConfigError as exc:
        return [str(exc)]
    out = []
    for spec in specs:
        config = read_config(spec.model_source)
        out += refusals(host, spec, gpu, vllm, solver_dtype, config)
    return out
