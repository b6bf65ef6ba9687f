"""Typed, validated view of a host's pyinfra data (group_data/*.py + inventory).

    >>> cfg = HostConfig.from_data("gpu01", {**defaults(), "vllm_version": "0.8.5.post1"}.get)
    >>> cfg.pins().vllm
    '0.8.5.post1'

Every setting is checked before any host is touched; a bad one raises ConfigError naming the
host, the key, the value and the rule.
"""

from __future__ import annotations

import re
import runpy
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from gpufleet.candidates import SOURCES
from gpufleet.compat import Pins
from gpufleet.gpus import UnknownGpu, lookup

GROUP_DATA_ALL = Path(__file__).resolve().parent.parent / "group_data" / "all.py"
AUTO = "auto"
_MISSING = object()


class ConfigError(ValueError):
    """`gpu03: vllm_version='0.8.x': not a PEP 440 version or "auto"`."""

    def __init__(self, host: str, key: str, value: Any, rule: str):
        self.host, self.key, self.value, self.rule = host, key, value, rule
        super().__init__(f"{host}: {key}={value!r}: {rule}")


def _version(value: Any) -> str | None:
    if value == AUTO:
        return None
    if not isinstance(value, str):
        raise ValueError('must be a version string or "auto"')
    try:
        Version(value)
    except InvalidVersion as exc:
        raise ValueError('not a PEP 440 version or "auto"') from exc
    return value


def _choice(*allowed: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return None if value == AUTO else value

    return check


def _url(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://", "file://")):
        raise ValueError("must be an http(s):// or file:// URL")
    return value.rstrip("/") if "{" not in value else value


def _optional_url(value: Any) -> str | None:
    return None if value is None else _url(value)


def _path(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError("must be an absolute path")
    return value.rstrip("/") or "/"


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be True or False")
    return value


def _int(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be an integer from {low} to {high}")
        return value

    return check


def _gpu(value: Any) -> str | None:
    if value == AUTO:
        return None
    if not isinstance(value, str):
        raise ValueError('must be a GPU name, a PCI id or "auto"')
    try:
        return lookup(value).name
    except UnknownGpu as exc:
        raise ValueError(str(exc)) from exc


def _optional_sha256(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{64}", value):
        raise ValueError("must be None or 64 lowercase hex digits (a sha256)")
    return value


def _str_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise ValueError("must be a non-empty list of strings")
    if not all(isinstance(v, str) and v for v in value):
        raise ValueError("must be a non-empty list of strings")
    return tuple(value)


def _optional_path(value: Any) -> str | None:
    return None if value is None else _path(value)


def _servers(value: Any) -> str | list:
    # the entries are checked by gpufleet.serve.server_specs (it knows the server fields)
    if value != AUTO and not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
        raise ValueError('must be "auto" or a list of server dicts')
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("must be a non-empty string")
    return value


_WORKLOAD = {"input_len", "output_len", "request_rate", "max_concurrency", "num_prompts"}


def _workload(value: Any) -> dict:
    if not isinstance(value, dict) or set(value) != _WORKLOAD:
        raise ValueError(f"must be a dict with exactly {', '.join(sorted(_WORKLOAD))}")
    for key, number in value.items():
        if isinstance(number, bool) or not isinstance(number, int | float) or number <= 0:
            raise ValueError(f"{key} must be a positive number")
    return dict(value)


# key -> check; the check returns the typed value or raises ValueError with the rule.
CHECKS: dict[str, Callable[[Any], Any]] = {
    "gpu": _gpu,
    "vllm_version": _version,
    "torch_version": _version,
    "driver_version": _version,
    "cuda_toolkit": _version,
    "python_version": _version,
    "vllm_source": _choice(AUTO, *SOURCES),
    "allow_source_build": _bool,
    "pypi_index_url": _url,
    "pytorch_index_url": _url,
    "nvidia_driver_url": _url,
    "cuda_runfile_url": _url,
    "vllm_release_wheel_url": _url,
    "pascal_index_url": _optional_url,
    "miniforge_version": _str,
    "miniforge_url": _url,
    "miniforge_sha256": _optional_sha256,
    "conda_channels": _str_list,
    "conda_channel_alias": _optional_url,
    "gpufleet_root": _path,
    "conda_prefix": _path,
    "envs_dir": _path,
    "downloads_dir": _path,
    "artifact_cache": _choice("mirror", "control"),
    "artifact_cache_dir": _str,
    "cuda_root": _path,
    "force_driver_change": _bool,
    "allow_reboot": _bool,
    "nvidia_driver_sha256_url": _str,
    "cuda_sha256_url": _str,
    "driver_sha256": _optional_sha256,
    "cuda_sha256": _optional_sha256,
    "driver_apt_packages": _str_list,
    "driver_apt_holds": _str_list,
    "service_user": _str,
    "embedding_port": _int(1, 65535),
    "chat_port": _int(1, 65535),
    "keep_envs": _int(0, 100),
    "max_unavailable": _int(1, 1000),
    "health_timeout_s": _int(1, 86400),
    "drain_timeout_s": _int(1, 86400),
    "serve_embedding": _bool,
    "serve_chat": _bool,
    "vllm_servers": _servers,
    "api_key_file": _optional_path,
    "moe_tune_command": _str,
    "moe_configs_dir": _str,
    "bench_workload": _workload,
    "post_rollout_bench": _bool,
    "bench_results_dir": _str,
    "bench_regression_pct": _int(1, 100),
}


@dataclass(frozen=True)
class HostConfig:
    host: str
    gpu: str | None
    vllm_version: str | None
    torch_version: str | None
    driver_version: str | None
    cuda_toolkit: str | None
    python_version: str | None
    vllm_source: str | None
    allow_source_build: bool
    pypi_index_url: str
    pytorch_index_url: str
    nvidia_driver_url: str
    cuda_runfile_url: str
    vllm_release_wheel_url: str
    pascal_index_url: str | None
    miniforge_version: str
    miniforge_url: str
    miniforge_sha256: str | None
    conda_channels: tuple[str, ...]
    conda_channel_alias: str | None
    gpufleet_root: str
    conda_prefix: str
    envs_dir: str
    downloads_dir: str
    artifact_cache: str
    artifact_cache_dir: str
    cuda_root: str
    force_driver_change: bool
    allow_reboot: bool
    nvidia_driver_sha256_url: str
    cuda_sha256_url: str
    driver_sha256: str | None
    cuda_sha256: str | None
    driver_apt_packages: tuple[str, ...]
    driver_apt_holds: tuple[str, ...]
    service_user: str
    embedding_port: int
    chat_port: int
    keep_envs: int
    max_unavailable: int
    health_timeout_s: int
    drain_timeout_s: int
    serve_embedding: bool
    serve_chat: bool
    vllm_servers: str | list
    api_key_file: str | None
    moe_tune_command: str
    moe_configs_dir: str
    bench_workload: dict
    post_rollout_bench: bool
    bench_results_dir: str
    bench_regression_pct: int

    @classmethod
    def from_data(cls, host: str, get: Callable[[str, Any], Any]) -> HostConfig:
        """Build from a getter like pyinfra's `host.data.get`; raise on the first bad key."""
        values: dict[str, Any] = {"host": host}
        for key, check in CHECKS.items():
            value = get(key, _MISSING)
            if value is _MISSING:
                raise ConfigError(
                    host, key, None, "missing (every default is in group_data/all.py)"
                )
            try:
                values[key] = check(value)
            except ValueError as exc:
                raise ConfigError(host, key, value, str(exc)) from exc
        return cls(**values)

    def pins(self) -> Pins:
        return Pins(
            vllm=self.vllm_version,
            torch=self.torch_version,
            driver=self.driver_version,
            cuda_toolkit=self.cuda_toolkit,
            python=self.python_version,
            vllm_source=self.vllm_source,
            allow_source_build=self.allow_source_build,
        )

    def artifact_dir(self) -> str | None:
        """The control machine's artifact cache in "control" mode (``~`` expanded), else None:
        hosts download from the mirror themselves."""
        if self.artifact_cache != "control":
            return None
        return str(Path(self.artifact_cache_dir).expanduser())

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@cache
def defaults() -> dict[str, Any]:
    """group_data/all.py as a dict: the defaults every host starts from."""
    return {k: v for k, v in runpy.run_path(str(GROUP_DATA_ALL)).items() if not k.startswith("_")}
