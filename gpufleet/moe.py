"""Fused-MoE kernel configs: tuned once per GPU model, kept on the control machine, installed
into every env of that GPU.

    >>> config_file_name(128, 192, "Tesla V100-SXM2-32GB", "float32")
    'E=128,N=192,device_name=Tesla_V100-SXM2-32GB,dtype=float32.json'
    >>> moe_shape({"num_experts": 128, "moe_intermediate_size": 768}, tp=4)
    (128, 192)

vLLM looks for `E=<experts>,N=<intermediate / TP>,device_name=<GPU>[,dtype=...].json` in
`vllm/model_executor/layers/fused_moe/configs/` of its package and falls back to a generic
default config (slower) when the file is missing; none ship for V100 or P40. The naming is
vLLM's: `get_config_file_name` (vllm/model_executor/layers/fused_moe/fused_moe.py: device_name
= torch.cuda.get_device_name() with spaces replaced by "_"), `_get_config_dtype_str`
(fused_moe/config.py: "float32" for fp32 weights, none for fp16/bf16), and configs/README.md
("N = original_intermediate_size / tp_size").

`gpufleet tune-moe` runs the tuning (`moe_tune_command`) once per (GPU model, vLLM version,
model shape, TP, dtype) on one host of that GPU and fetches the file to
`moe_configs/vllm-<version>/`; a file already there is not tuned again. tasks/moe.py installs
the files whose device_name is the host's GPU into every env of that vLLM version on it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpufleet.config import ConfigError, HostConfig
from gpufleet.inventory import hosts, pyinfra_state
from gpufleet.models import read_config
from gpufleet.plan import plan_host
from gpufleet.serve import AUTO, server_specs

ENV_CONFIGS = "vllm/model_executor/layers/fused_moe/configs"  # below the env's site-packages
_EXPERT_KEYS = ("num_experts", "num_local_experts", "n_routed_experts")
_MARKER = "@@ "


class MoeError(ValueError):
    """A model that is not MoE, a host without its env, a tuning run that failed: one line."""


def device_name(gpu_name: str) -> str:
    return gpu_name.replace(" ", "_")


def dtype_selector(dtype: str) -> str | None:
    """vLLM's _get_config_dtype_str for unquantized weights."""
    return "float32" if dtype in ("float32", "float") else None


def config_file_name(experts: int, n: int, gpu_name: str, dtype: str) -> str:
    selector = dtype_selector(dtype)
    tail = f",dtype={selector}" if selector else ""
    return f"E={experts},N={n},device_name={device_name(gpu_name)}{tail}.json"


def moe_shape(config: dict, tp: int) -> tuple[int, int] | None:
    """(experts, N) of a config.json for this TP, or None for a dense model."""
    cfg = config.get("text_config", config)
    experts = next((cfg[k] for k in _EXPERT_KEYS if cfg.get(k)), None)
    inter = cfg.get("moe_intermediate_size") or cfg.get("intermediate_size")
    if not experts or not inter:
        return None
    return int(experts), int(inter) // tp


@dataclass(frozen=True)
class TuneJob:
    host: str  # the host that tunes (first of its GPU model in the inventory)
    address: str
    gpu: str
    vllm: str
    env_path: str
    experts: int
    n: int
    tp: int
    dtype: str
    config: str  # the model's config.json text
    command: str  # moe_tune_command of the tuning host
    configs_dir: str  # moe_configs_dir: where the file goes on the control machine

    @property
    def file_name(self) -> str:
        return config_file_name(self.experts, self.n, self.gpu, self.dtype)

    def path(self, configs_dir: Path | None = None) -> Path:
        folder = configs_dir or Path(self.configs_dir)
        return folder / f"vllm-{self.vllm}" / self.file_name


def inventory_hosts(inventory: str, limit: set[str] | None = None, data: dict | None = None):
    """(name, getter) per inventory host, `limit`ed, with pyinfra-style `--data` overrides."""
    out = []
    for name, get in hosts(inventory):
        if limit and name not in limit:
            continue
        if data:
            get = _overlay(get, data)
        out.append((name, get))
    return out


def _overlay(get, data: dict):
    return lambda key, default=None: data[key] if key in data else get(key, default)


def plan_jobs(
    inventory: str,
    model: str,
    tp: int | None = None,
    limit: set[str] | None = None,
    data: dict | None = None,
) -> list[TuneJob]:
    """One job per (GPU model, vLLM, shape, TP, dtype) among the inventory's hosts."""
    jobs: dict[tuple, TuneJob] = {}
    for name, get in inventory_hosts(inventory, limit, data):
        try:
            cfg = HostConfig.from_data(name, get)
        except ConfigError as exc:
            raise MoeError(str(exc)) from None
        plan = plan_host(cfg)
        if not plan.ok:
            raise MoeError(plan.error)
        for config, server_tp, dtype in _targets(name, get, model, plan.stack.dtype, tp):
            shape = moe_shape(config, server_tp)
            if shape is None:
                raise MoeError(f"{name}: {model}: config.json names no experts: not a MoE model")
            key = (plan.gpu.name, plan.stack.vllm, *shape, server_tp, dtype)
            jobs.setdefault(
                key,
                TuneJob(
                    name,
                    get("ssh_hostname", None) or name,
                    plan.gpu.name,
                    plan.stack.vllm,
                    f"{cfg.envs_dir}/{plan.stack.env_name}",
                    *shape,
                    server_tp,
                    dtype,
                    json.dumps(config),
                    cfg.moe_tune_command,
                    cfg.moe_configs_dir,
                ),
            )
    return list(jobs.values())


def _targets(host: str, get, model: str, solver_dtype: str, tp: int | None) -> list[tuple]:
    """(config, tp, dtype) for `model` on this host: a local model directory (every host),
    else the host's servers named or serving `model` (their TP and dtype)."""
    local = read_config(model)
    if local is not None:
        return [(local, tp or 1, solver_dtype)]
    found = []
    for spec in server_specs(host, get):
        if model not in (spec.name, spec.served_model_name):
            continue
        config = read_config(spec.model_source)
        if config is None:
            raise MoeError(
                f"{host}: {model}: no config.json on the control machine (model_source is "
                f"{spec.model_source!r}): set model_source or pass --model DIR"
            )
        found.append((config, tp or spec.tp, spec.dtype if spec.dtype != AUTO else solver_dtype))
    return found


def tune_script(job: TuneJob) -> str:
    """The shell script the tuning host runs: config.json in, one `@@ name` + JSON per file out."""
    work = f"/tmp/gpufleet-moe-{hashlib.sha256(repr(job).encode()).hexdigest()[:12]}"
    tune = job.command.format(
        python=shlex.quote(f"{job.env_path}/bin/python"),
        model=f"{work}/model",
        tp=job.tp,
        dtype=shlex.quote(job.dtype),
        output=f"{work}/out",
    )
    config = base64.b64encode(job.config.encode()).decode()
    stamp = shlex.quote(f"{job.env_path}/.gpufleet-stamp.json")
    return (
        f"test -f {stamp} || {{ echo 'no built env {job.env_path} (run the deploy first)' >&2; "
        f"exit 3; }}; rm -rf {work}; mkdir -p {work}/model {work}/out && "
        f"trap 'rm -rf {work}' EXIT; echo {config} | base64 -d > {work}/model/config.json && "
        f'{tune} >&2 && for f in {work}/out/*.json; do [ -f "$f" ] || continue; '
        f'echo "{_MARKER}$(basename "$f")"; cat "$f"; echo; done'
    )


def parse_output(lines: list[str]) -> dict[str, Any]:
    """`@@ name` + JSON blocks -> {file name: parsed JSON}."""
    texts: dict[str, list[str]] = {}
    current: list[str] = []
    for line in lines:
        if line.startswith(_MARKER):
            current = texts.setdefault(line[len(_MARKER) :].strip(), [])
        else:
            current.append(line)
    return {name: json.loads("\n".join(body)) for name, body in texts.items()}


def save(job: TuneJob, files: dict[str, Any], configs_dir: Path | None = None) -> Path:
    """Write the job's file (only once the run produced exactly the expected name)."""
    if job.file_name not in files:
        got = ", ".join(sorted(files)) or "nothing"
        raise MoeError(f"{job.host}: tuning wrote {got}, expected {job.file_name}")
    path = job.path(configs_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(files[job.file_name], indent=4) + "\n")
    partial.replace(path)
    return path


# --- Installing: which files go into which env (tasks/moe.py) ----------------------------------


@dataclass(frozen=True)
class EnvTarget:
    name: str
    path: str
    vllm: str
    python: str

    @property
    def configs_dir(self) -> str:
        return f"{self.path}/lib/python{self.python}/site-packages/{ENV_CONFIGS}"


def env_targets(stack: Any, envs_dir: str, stamps: dict[str, dict | None]) -> list[EnvTarget]:
    """The stack's own env (built in this run or before) and every stamped env on the host."""
    own = EnvTarget(stack.env_name, f"{envs_dir}/{stack.env_name}", stack.vllm, stack.python)
    targets = {stack.env_name: own}
    for name, stamp in sorted(stamps.items()):
        built = (stamp or {}).get("stack") or {}
        if name not in targets and built.get("vllm") and built.get("python"):
            path = stamp.get("path") or f"{envs_dir}/{name}"
            targets[name] = EnvTarget(name, path, built["vllm"], built["python"])
    return list(targets.values())


def configs_for(gpu_name: str, vllm: str, configs_dir: str | Path) -> list[Path]:
    """The committed configs of this vLLM release tuned on this GPU model."""
    wanted = f"device_name={device_name(gpu_name)}"
    folder = Path(configs_dir) / f"vllm-{vllm}"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if f",{wanted}," in f",{p.stem},")


# --- Running the tuning on the host -------------------------------------------------------------


def run_remote(inventory: str, host_name: str, script: str) -> tuple[bool, list[str], str]:
    """Run `script` on one inventory host over pyinfra's SSH connector, outside a deploy:
    (ok, stdout lines, stderr text)."""
    from pyinfra.api import StringCommand
    from pyinfra.api.exceptions import ConnectError
    from pyinfra.context import ctx_host, ctx_state

    state = pyinfra_state(inventory)
    host = state.inventory.get_host(host_name)
    try:
        with ctx_state.use(state), ctx_host.use(host):
            host.connect(show_errors=False, raise_exceptions=True)
            ok, output = host.run_shell_command(StringCommand(script), print_output=False)
    except ConnectError as exc:
        return False, [], f"could not connect: {exc}"
    finally:
        if host.connected:
            host.disconnect()
    return ok, output.stdout_lines, output.stderr


def tune(inventory: str, job: TuneJob, configs_dir: Path | None = None) -> Path:
    """Tune on the job's host and save the file; MoeError (one line) when it fails."""
    ok, lines, stderr = run_remote(inventory, job.host, tune_script(job))
    if not ok:
        last = stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise MoeError(f"{job.host}: tuning failed: {last[0]}")
    return save(job, parse_output(lines), configs_dir)
