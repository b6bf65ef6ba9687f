"""gpufleet.operations.env and .conda as data: the host's facts -> the commands expected."""

from __future__ import annotations

from typing import Any

import pytest

from gpufleet.config import HostConfig, defaults
from gpufleet.operations.env import EnvSpec, env_spec, stale_envs
from gpufleet.plan import plan_gpu
from tests.operations.scenarios import Scenario, check, scenarios

# A lab's internal mirror (README "Python stack"): the scenarios never name a public index.
LAB_URLS = {
    "pypi_index_url": "http://pypi.lab.internal/simple",
    "pytorch_index_url": "http://pypi.lab.internal/pytorch/whl",
    "pascal_index_url": "http://pypi.lab.internal/pascal/simple",
    "vllm_release_wheel_url": "http://files.lab.internal/vllm/v{version}/"
    "vllm-{version}+{cuda}-cp38-abi3-{platform}.whl",
}


def spec_for(host: str, gpu: str, data: dict[str, Any]) -> EnvSpec:
    """The EnvSpec tasks/stack.py builds for a host with ``gpu`` and host ``data`` (pins too)."""
    cfg = HostConfig.from_data(host, {**defaults(), **LAB_URLS, **data}.get)
    plan = plan_gpu(gpu, cfg.pins(), host=host)
    assert plan.ok, plan.error
    return env_spec(plan, cfg)


def convert(args: dict[str, Any]) -> dict[str, Any]:
    if "spec" in args:
        s = args["spec"]
        args["spec"] = spec_for("gpu01", s["gpu"], s.get("data", {}))
    return args


@pytest.mark.parametrize("scenario", scenarios("env"))
def test_env_scenario(scenario: Scenario) -> None:
    fake = check(scenario, convert)
    if not scenario.data["commands"]:
        assert fake.noops, "an operation with nothing to do says so"


@pytest.mark.parametrize("scenario", scenarios("conda"))
def test_conda_scenario(scenario: Scenario) -> None:
    check(scenario)


def test_build_runs_torch_first_and_vllm_under_the_torch_constraint() -> None:
    spec = spec_for("gpu01", "Tesla V100-SXM2-32GB", {"vllm_version": "0.8.5.post1"})
    commands = scenario_commands(spec)
    torch = next(i for i, c in enumerate(commands) if " torch==2.6.0+cu124; }" in c)
    vllm = next(i for i, c in enumerate(commands) if "vllm==0.8.5.post1" in c)
    assert torch < vllm
    assert f"-c {spec.constraints}" in commands[vllm]
    assert "--stamp" in commands[-1] and "postinstall.py" in commands[-1]


def scenario_commands(spec: EnvSpec) -> list[str]:
    from gpufleet.operations.env import build_commands

    return build_commands(spec)


def test_every_build_step_removes_the_env_when_it_fails() -> None:
    spec = spec_for("gpu01", "Tesla P40", {})
    for command in scenario_commands(spec):
        assert command.endswith(
            f"rm -rf {spec.path}; echo 'gpu01: " + command.split("echo 'gpu01: ")[1]
        )
        assert f"|| {{ rm -rf {spec.path};" in command


def test_xformers_wheel_key_names_version_torch_build_arch_and_python() -> None:
    spec = spec_for("gpu01", "Tesla P40", {"python_version": "3.11"})
    assert spec.xformers_key == "xformers-0.0.31-torch-2.7.1+cu126-sm_61-py3.11"


def test_stale_envs_keeps_the_newest_and_those_in_use() -> None:
    stamps = {n: {"built_at_epoch": t} for n, t in (("a", 1), ("b", 2), ("c", 3), ("d", 4))}
    links = {"/opt/gpufleet/services/chat/current": "/opt/gpufleet/envs/a"}
    names = ["a", "b", "c", "d", "half"]
    assert stale_envs("d", names, stamps, links, "/opt/gpufleet/envs", keep=1) == ["b", "half"]
    assert stale_envs("d", names, stamps, {}, "/opt/gpufleet/envs", keep=0) == [
        "a", "b", "c", "half",
    ]  # fmt: skip


def test_every_install_names_the_stacks_own_cu_index_whatever_pip_conf_says() -> None:
    spec = spec_for("gpu01", "Tesla V100-SXM2-32GB", {"vllm_version": "0.8.5.post1"})
    installs = [c for c in scenario_commands(spec) if " install " in c]
    assert len(installs) == 2
    cu_index = "--extra-index-url http://pypi.lab.internal/pytorch/whl/cu124"
    assert all(cu_index in c for c in installs)
