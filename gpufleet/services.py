"""What each vLLM server of a host should run: sized parameters, argv, unit and env file.

    >>> systemd_quote("--served-model-name")
    '--served-model-name'
    >>> systemd_quote("a b%")
    '"a b%%"'

tasks/services.py turns these into operations; `gpufleet plan` prints the sizing reasons.
Units: /etc/systemd/system/gpufleet-vllm-<name>.service, env files /etc/gpufleet/vllm-<name>.env,
the env link <gpufleet_root>/services/<name>/current -> <envs_dir>/<stack.env_name>.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from gpufleet.compat import Stack
from gpufleet.config import HostConfig
from gpufleet.gpus import GpuModel
from gpufleet.models import digest, read_config
from gpufleet.operations.rollout import Release
from gpufleet.serve import ServerSpec, Sizing, argv, entrypoint, model_size, size

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
UNIT_DIR = "/etc/systemd/system"
ENV_DIR = "/etc/gpufleet"
HEALTH_SCRIPT = "lib/gpufleet_health.py"  # below gpufleet_root


@dataclass(frozen=True)
class ServerPlan:
    spec: ServerSpec
    sizing: Sizing
    model_dir: str  # the directory the server loads on the host
    manifest: dict[str, str] | None  # when synced from model_source
    release: Release


def systemd_quote(arg: str) -> str:
    """One ExecStart word: quoted when needed; % and $ escaped (systemd.service(5))."""
    escaped = arg.replace("%", "%%").replace("$", "$$")
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", arg):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(template: str, **values) -> str:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env.get_template(template).render(**values)


def sizing_for(spec: ServerSpec, gpu: GpuModel, stack: Stack) -> Sizing:
    config = read_config(spec.model_source)
    model = model_size(config) if config else None
    return size(spec, gpu.vram_mib, spec.dtype if spec.dtype != "auto" else stack.dtype, model)


def plan_server(
    spec: ServerSpec,
    gpu: GpuModel,
    stack: Stack,
    config: HostConfig,
    manifest: dict[str, str] | None = None,
) -> ServerPlan:
    """Everything one server needs, from its spec, the host's GPU and the resolved stack."""
    sizing = sizing_for(spec, gpu, stack)
    model_dir = f"{spec.model_path}/{digest(manifest)}" if manifest else spec.model_path
    link = f"{config.gpufleet_root}/services/{spec.name}/current"
    args = argv(spec, stack.vllm, stack.dtype, sizing, model_dir)
    program = f"{link}/bin/vllm" if args[0] == "serve" else f"{link}/bin/python"
    cache = f"gpufleet-vllm-{spec.name}"
    env_file = f"{ENV_DIR}/vllm-{spec.name}.env"
    unit_text = render(
        "vllm.service.j2",
        role=spec.role,
        name=spec.name,
        served_model_name=spec.served_model_name,
        port=spec.port,
        services_dir=f"{config.gpufleet_root}/services",
        user=config.service_user,
        env_file=env_file,
        api_key_file=config.api_key_file,
        exec_start=" ".join(systemd_quote(a) for a in [program, *args]),
        cache_dir=cache,
    )
    env_text = render("vllm.env.j2", unit=spec.unit, gpus=spec.gpus, cache_dir=cache, extra_env=[])
    gate = gate_argv(spec, config)
    release = Release(
        service=spec.name,
        unit=spec.unit,
        unit_path=f"{UNIT_DIR}/{spec.unit}.service",
        unit_text=unit_text,
        env_file=env_file,
        env_text=env_text,
        link=link,
        target_env=f"{config.envs_dir}/{stack.env_name}",
        gate=gate,
    )
    return ServerPlan(spec, sizing, model_dir, manifest, release)


def gate_argv(spec: ServerSpec, config: HostConfig) -> tuple[str, ...]:
    gate = [
        "python3",
        f"{config.gpufleet_root}/{HEALTH_SCRIPT}",
        "--role",
        spec.role,
        "--port",
        str(spec.port),
        "--model",
        spec.served_model_name,
        "--timeout",
        str(config.health_timeout_s),
        "--unit",
        spec.unit,
    ]
    if config.api_key_file:
        gate += ["--api-key-file", config.api_key_file]
    return tuple(gate)


def describe(plan: ServerPlan, stack: Stack) -> list[str]:
    """Lines for `gpufleet plan`: the command line, then why each sized number is what it is."""
    head = entrypoint(stack.vllm)
    program = "vllm" if head[0] == "serve" else "python"
    args = argv(plan.spec, stack.vllm, stack.dtype, plan.sizing, plan.model_dir)
    line = f"{plan.spec.name} ({plan.spec.role}, CUDA_VISIBLE_DEVICES={plan.spec.gpus}): "
    return [line + shlex.join([program, *args]), *plan.sizing.reasons]
