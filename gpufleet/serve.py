"""Each vLLM server of a host: its settings, its sizing, and its argv for the stack's vLLM.

    >>> spec = ServerSpec("embedding", "embedding", "/opt/models/e5", "e5", 8000, "0")
    >>> argv(spec, "0.8.5.post1", "half", Sizing(0.5, 16, 8192))[:5]
    ['serve', '/opt/models/e5', '--task', 'embed', '--served-model-name']

Servers come from host data: `vllm_servers` (a list of dicts), or "auto" = one server per role
group the host is in (`embedding_server` of group_data/embedding.py, `chat_server` of chat.py).
Flag names per vLLM version are data (matrix.yaml `vllm_flags`, each row with its source).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from functools import cache
from typing import Any

import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from gpufleet.config import ConfigError
from gpufleet.matrix import MATRIX_PATH

ROLES = ("embedding", "chat")
AUTO = "auto"
UNIT_PREFIX = "gpufleet-vllm-"


@dataclass(frozen=True)
class ServerSpec:
    name: str
    role: str  # "embedding" | "chat"
    model_path: str  # on the host; with model_source, versions live below it
    served_model_name: str
    port: int
    gpus: str  # CUDA_VISIBLE_DEVICES, e.g. "4,5,6,7"
    model_source: str | None = None  # a directory on the control machine to sync from
    bind: str = "0.0.0.0"
    tensor_parallel_size: int | str = AUTO  # auto = one rank per GPU in `gpus`
    dtype: str = AUTO  # auto = the solver's (V100 half, P40 float32, sm_80+ bfloat16)
    max_model_len: int | None = None
    gpu_memory_utilization: float | str = AUTO
    max_num_batched_tokens: int | str | None = AUTO
    max_num_seqs: int | str | None = AUTO
    enable_chunked_prefill: bool = False
    enforce_eager: bool = False
    trust_remote_code: bool = False
    model_params_b: float | None = None  # billions of parameters, when config.json is unreadable
    extra_args: tuple[str, ...] = ()

    @property
    def unit(self) -> str:
        return f"{UNIT_PREFIX}{self.name}"

    @property
    def tp(self) -> int:
        if self.tensor_parallel_size == AUTO:
            return len(self.gpus.split(","))
        return int(self.tensor_parallel_size)


@dataclass(frozen=True)
class Sizing:
    gpu_memory_utilization: float
    max_num_seqs: int | None
    max_num_batched_tokens: int | None
    reasons: tuple[str, ...] = field(default=())


def server_specs(host: str, get: Callable[[str, Any], Any]) -> list[ServerSpec]:
    """The host's servers, validated: unique names and ports, GPUs not shared, TP == GPUs."""
    raw = get("vllm_servers", AUTO)
    if raw == AUTO:
        raw = [
            {"role": role, **(get(f"{role}_server", None) or {})}
            for role in ROLES
            if get(f"serve_{role}", False)
        ]
    if not isinstance(raw, list):
        raise ConfigError(host, "vllm_servers", raw, 'must be a list of dicts or "auto"')
    specs = [_spec(host, index, entry, get) for index, entry in enumerate(raw)]
    _check_distinct(host, specs)
    from gpufleet.flags import check_gpus  # flags imports this module

    count = get("gpu_count", None)
    for index, spec in enumerate(specs):
        known = isinstance(count, int) and not isinstance(count, bool)
        check_gpus(host, spec, count if known else None, f"vllm_servers[{index}]")
    return specs


_TYPES: dict[str, tuple[type, ...]] = {
    f.name: (str,) for f in fields(ServerSpec) if f.type in ("str", "str | None")
}
_TYPES.update(
    port=(int,),
    max_model_len=(int, type(None)),
    tensor_parallel_size=(int, str),
    gpu_memory_utilization=(float, str),
    max_num_batched_tokens=(int, str, type(None)),
    max_num_seqs=(int, str, type(None)),
    enable_chunked_prefill=(bool,),
    enforce_eager=(bool,),
    trust_remote_code=(bool,),
    model_params_b=(int, float, type(None)),
    extra_args=(list, tuple),
    model_source=(str, type(None)),
)


def _spec(host: str, index: int, entry: Any, get: Callable[[str, Any], Any]) -> ServerSpec:
    where = f"vllm_servers[{index}]"
    if not isinstance(entry, dict) or entry.get("role") not in ROLES:
        raise ConfigError(host, where, entry, f"must be a dict with role one of {ROLES}")
    role = entry["role"]
    values = {"name": role, "port": get(f"{role}_port", None), **entry}
    unknown = sorted(set(values) - set(_TYPES))
    if unknown:
        raise ConfigError(host, f"{where}.{unknown[0]}", values[unknown[0]], "unknown setting")
    for key in ("model_path", "served_model_name", "gpus"):
        if key not in values:
            raise ConfigError(host, f"{where}.{key}", None, "missing")
    for key, value in values.items():
        if isinstance(value, bool) and bool not in _TYPES[key]:
            raise ConfigError(host, f"{where}.{key}", value, "wrong type")
        if not isinstance(value, _TYPES[key]):
            names = "/".join(t.__name__ for t in _TYPES[key])
            raise ConfigError(host, f"{where}.{key}", value, f"must be {names}")
    if not values["model_path"].startswith("/"):
        raise ConfigError(host, f"{where}.model_path", values["model_path"], "must be absolute")
    if not 1 <= values["port"] <= 65535:
        raise ConfigError(host, f"{where}.port", values["port"], "must be 1..65535")
    values["extra_args"] = tuple(values.get("extra_args", ()))
    spec = ServerSpec(**values)
    if spec.gpus != "all" and spec.tp != len(spec.gpus.split(",")):
        rule = f"tensor_parallel_size {spec.tp} must equal the number of GPUs in gpus"
        raise ConfigError(host, f"{where}.gpus", spec.gpus, rule)
    return spec


def _check_distinct(host: str, specs: list[ServerSpec]) -> None:
    seen: dict[str, dict[Any, str]] = {"name": {}, "port": {}, "gpus": {}}
    for spec in specs:
        for key, values in (("name", [spec.name]), ("port", [spec.port])):
            for value in values:
                if value in seen[key]:
                    rule = f"used by two servers ({seen[key][value]} and {spec.name})"
                    raise ConfigError(host, f"vllm_servers.{key}", value, rule)
                seen[key][value] = spec.name
        for gpu in spec.gpus.split(","):
            if gpu in seen["gpus"] or (gpu == "all" and len(specs) > 1):
                rule = f"GPU {gpu} given to two servers ({seen['gpus'].get(gpu)}, {spec.name})"
                raise ConfigError(host, "vllm_servers.gpus", spec.gpus, rule)
            seen["gpus"][gpu] = spec.name


@cache
def _flag_rows() -> tuple[dict, ...]:
    return tuple(yaml.safe_load(MATRIX_PATH.read_text())["vllm_flags"])


def flags_for(purpose: str, vllm: str) -> list[str]:
    """The flags for `purpose` in this vLLM release (matrix.yaml vllm_flags); [] if none."""
    version = Version(vllm)
    for row in _flag_rows():
        if row["purpose"] == purpose and SpecifierSet(row["vllm"]).contains(version, True):
            return list(row["args"])
    return []


def entrypoint(vllm: str) -> list[str]:
    """`vllm serve` where it exists, else the module the CLI wraps (arguments after it)."""
    serve = flags_for("entrypoint", vllm)
    return serve or ["-m", "vllm.entrypoints.openai.api_server"]


def argv(
    spec: ServerSpec, vllm: str, dtype: str, sizing: Sizing, model_dir: str | None = None
) -> list[str]:
    """Arguments after `<env>/bin/vllm` (or after `<env>/bin/python` for the -m entry)."""
    model = model_dir or spec.model_path
    head = entrypoint(vllm)
    args = [*head, model] if head[0] == "serve" else [*head, "--model", model]
    if spec.role == "embedding":
        args += flags_for("embed", vllm)
    args += ["--served-model-name", spec.served_model_name]
    args += ["--host", spec.bind, "--port", str(spec.port)]
    args += ["--dtype", dtype if spec.dtype == AUTO else spec.dtype]
    args += ["--tensor-parallel-size", str(spec.tp)]
    if spec.max_model_len:
        args += ["--max-model-len", str(spec.max_model_len)]
    args += ["--gpu-memory-utilization", f"{sizing.gpu_memory_utilization:g}"]
    if sizing.max_num_batched_tokens:
        args += ["--max-num-batched-tokens", str(sizing.max_num_batched_tokens)]
    if sizing.max_num_seqs:
        args += ["--max-num-seqs", str(sizing.max_num_seqs)]
    for flag in ("enable_chunked_prefill", "enforce_eager", "trust_remote_code"):
        if getattr(spec, flag):
            args.append("--" + flag.replace("_", "-"))
    return [*args, *spec.extra_args]


def with_dtype(spec: ServerSpec, solver_dtype: str) -> ServerSpec:
    """The spec with dtype resolved: the server's own, else the solver's."""
    return spec if spec.dtype != AUTO else replace(spec, dtype=solver_dtype)


# --- Sizing: "auto" serving parameters from VRAM, model size and max_model_len -----------------

GIB = 1024**3
BYTES_PER_PARAM = {"float32": 4, "float": 4, "half": 2, "float16": 2, "bfloat16": 2}
OVERHEAD_GIB = 1.5  # per GPU: CUDA context, activations, CUDA graphs (vLLM's profile run)
CHAT_UTILIZATION = 0.90  # vLLM's own default: the chat server owns its GPUs
EMBED_SEQS = 32  # embedding requests are short and prefill-only
MAX_SEQS = 256  # vLLM's default --max-num-seqs
BATCH_CAP = 16384
CHUNK_TOKENS = 2048  # vLLM's default budget with chunked prefill (V0 scheduler)
DEFAULT_LEN = 4096


@dataclass(frozen=True)
class ModelSize:
    """What sizing needs from a model: parameters and KV-cache bytes per token (fp16)."""

    params: float
    kv_bytes_per_token_fp16: int
    max_position_embeddings: int | None
    source: str  # "config.json" | "model_params_b (estimated KV)"


def size(spec: ServerSpec, vram_mib: int, dtype: str, model: ModelSize | None) -> Sizing:
    """Resolve the "auto" values of `spec`; the reasons say where each number comes from."""
    auto = [
        k
        for k in ("gpu_memory_utilization", "max_num_seqs", "max_num_batched_tokens")
        if getattr(spec, k) == AUTO
    ]
    if model is None and spec.model_params_b:
        model = estimate(spec.model_params_b)
    if auto and model is None:
        raise ValueError(
            f"{spec.name}: {', '.join(auto)} = auto needs the model size: a readable "
            "config.json (model_source) or model_params_b"
        )
    reasons: list[str] = []
    if model is None:  # nothing is auto
        return Sizing(spec.gpu_memory_utilization, spec.max_num_seqs, spec.max_num_batched_tokens)
    width = BYTES_PER_PARAM.get(dtype, 2)
    vram = vram_mib * 1024**2 / GIB
    weights = model.params * width / spec.tp / GIB
    kv_token = model.kv_bytes_per_token_fp16 * width / 2 / spec.tp
    length = spec.max_model_len or model.max_position_embeddings or DEFAULT_LEN
    reasons.append(
        f"{spec.name}: {model.params / 1e9:.2f}B params in {dtype} = {weights:.1f} GiB of "
        f"weights per GPU (TP {spec.tp}, {vram:.0f} GiB each; size from {model.source}); "
        f"KV cache {kv_token / 1024:.0f} KiB/token/GPU; max_model_len {length}"
    )
    seqs, util = spec.max_num_seqs, spec.gpu_memory_utilization
    if util == AUTO:
        util, why = _utilization(spec, vram, weights, kv_token, length, seqs)
        reasons.append(f"{spec.name}: gpu_memory_utilization {util:g}: {why}")
    if seqs == AUTO:
        budget = util * vram - weights - OVERHEAD_GIB
        fit = int(budget * GIB // (kv_token * length)) if budget > 0 else 0
        cap = EMBED_SEQS if spec.role == "embedding" else MAX_SEQS
        if fit < 1:
            raise ValueError(
                f"{spec.name}: no room for one {length}-token sequence: {util:g} x {vram:.0f} "
                f"GiB - {weights:.1f} GiB weights - {OVERHEAD_GIB} GiB overhead"
            )
        seqs = min(cap, 1 << (fit.bit_length() - 1))
        reasons.append(
            f"{spec.name}: max_num_seqs {seqs}: KV room {budget:.1f} GiB holds {fit} full "
            f"{length}-token sequences (power of two, capped at {cap})"
        )
    batched = spec.max_num_batched_tokens
    if batched == AUTO:
        if spec.enable_chunked_prefill:
            batched = CHUNK_TOKENS
            why = "chunked prefill: small steps keep decode latency flat"
        else:
            batched = max(length, min((seqs or 1) * length, BATCH_CAP))
            why = f"max_num_seqs x max_model_len, <= {BATCH_CAP}, >= max_model_len"
        reasons.append(f"{spec.name}: max_num_batched_tokens {batched}: {why}")
    return Sizing(util, seqs, batched, tuple(reasons))


def _utilization(spec, vram, weights, kv_token, length, seqs) -> tuple[float, str]:
    if spec.role == "chat":
        return CHAT_UTILIZATION, "the chat server owns its GPUs (vLLM's default)"
    target = seqs if isinstance(seqs, int) else EMBED_SEQS
    need = weights + OVERHEAD_GIB + kv_token * length * target / GIB
    util = min(0.9, max(0.1, -(-need * 20 // vram) / 20))  # rounded up to 0.05
    why = (
        f"weights + {OVERHEAD_GIB} GiB overhead + KV for {target} x {length} tokens = "
        f"{need:.1f} GiB of {vram:.0f} GiB (rounded up to 0.05; the rest stays free)"
    )
    return round(util, 2), why


def estimate(params_b: float) -> ModelSize:
    """No config.json: KV bytes/token scaled from a 7B GQA model (32 layers x 8 KV heads x 128)."""
    kv = int(2 * 32 * 8 * 128 * 2 * max(params_b / 7, 0.05))
    return ModelSize(params_b * 1e9, kv, None, "model_params_b (estimated KV)")


def model_size(config: dict) -> ModelSize:
    """From a Hugging Face config.json: parameter count and KV bytes per token in fp16."""
    cfg = config.get("text_config", config)
    hidden, layers = cfg["hidden_size"], cfg["num_hidden_layers"]
    heads = cfg["num_attention_heads"]
    kv_heads = cfg.get("num_key_value_heads") or heads
    head_dim = cfg.get("head_dim") or hidden // heads
    inter, vocab = cfg.get("intermediate_size", 4 * hidden), cfg.get("vocab_size", 0)
    attn = hidden * head_dim * (2 * heads + 2 * kv_heads)
    mlp = 3 * hidden * inter
    embed = vocab * hidden * (1 if cfg.get("tie_word_embeddings", False) else 2)
    params = layers * (attn + mlp) + embed
    kv = 2 * layers * kv_heads * head_dim * 2
    return ModelSize(float(params), kv, cfg.get("max_position_embeddings"), "config.json")
