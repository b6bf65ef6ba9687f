"""Operations for the per-stack conda envs: build one, verified and stamped; prune old ones.

One env per resolved stack at ``<envs_dir>/<stack.env_name>``. Conda prefixes are not
relocatable, so an env is built at its final path and counts as built only once the post-install
check (gpufleet/postinstall.py) passed and wrote ``<env>/.gpufleet-stamp.json``. A later run
deletes and rebuilds an env dir without a stamp (an interrupted build); a failing step or
check removes the half-built env and fails the host; other envs are never touched by a build.

    >>> from gpufleet.config import HostConfig, defaults
    >>> from gpufleet.plan import plan_gpu
    >>> from gpufleet.compat import Pins
    >>> plan = plan_gpu("Tesla V100-SXM2-32GB", Pins(vllm="0.8.5.post1"))
    >>> spec = env_spec(plan, HostConfig.from_data("gpu01", defaults().get))
    >>> spec.path, spec.torch_pin
    ('/opt/gpufleet/envs/vllm-0.8.5.post1-torch-2.6.0-cu124', 'torch==2.6.0+cu124')
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Generator, Mapping
from dataclasses import dataclass

from pyinfra import host, logger
from pyinfra.api import operation

from gpufleet.config import HostConfig
from gpufleet.facts import host as host_facts
from gpufleet.facts.conda import CondaEnvs, ServiceEnvLinks
from gpufleet.facts.vllm import STAMP_NAME, VllmStacks
from gpufleet.matrix import Matrix, load
from gpufleet.operations.conda import trusted_hosts
from gpufleet.plan import Plan

CONSTRAINTS_NAME = ".gpufleet-constraints.txt"
# Build dependencies for --no-build-isolation source builds (their pyproject build-system
# requires, torch aside: that is the env's own, which is the point of --no-build-isolation).
_BUILD_DEPS = ("cmake", "ninja", "packaging", "setuptools", "setuptools-scm", "wheel", "jinja2")
_XFORMERS_BUILD_DEPS = ("setuptools",)  # setuptools >= 70.1 builds wheels itself
# ~1 compile job per 4 GiB of memory (nvcc on vLLM/xformers kernels), at least 1, at most nproc.
_MAX_JOBS = (
    "jobs=$(awk '/^MemTotal:/ {j = int($2 / 4194304); print (j < 1) ? 1 : j}' /proc/meminfo); "
    'n=$(nproc); [ "$jobs" -le "$n" ] || jobs=$n; '
)
_PASCAL_PATCH = ("torch/_inductor/scheduler.py", "torch/utils/_triton.py")


@dataclass(frozen=True)
class EnvSpec:
    """Everything one env build needs, from the plan and the host's settings."""

    host: str
    name: str
    path: str
    conda: str
    pip_config: str
    python: str
    torch_pin: str  # "torch==2.6.0+cu124"
    vllm_source: str
    vllm_requirement: str  # "vllm==0.8.5.post1", a wheel URL, "vllm-pascal==0.10.0"
    pip_indexes: tuple[str, ...]  # --extra-index-url/--trusted-host of install and wheel
    cuda_home: str
    cc: str  # "7.0": TORCH_CUDA_ARCH_LIST for source builds
    xformers_build: str | None  # xformers version to build from source, or None
    wheelhouse: str
    triton_pascal: bool
    check_script: str
    check_args: tuple[str, ...]
    stamp_data: str  # JSON the stamp carries besides built_at and the check result

    @property
    def python_bin(self) -> str:
        return f"{self.path}/bin/python"

    @property
    def constraints(self) -> str:
        return f"{self.path}/{CONSTRAINTS_NAME}"

    @property
    def xformers_key(self) -> str:
        """Wheelhouse folder of one xformers build: version, torch build, arch and python."""
        torch = self.torch_pin.removeprefix("torch==")
        sm = "sm_" + self.cc.replace(".", "")
        return f"xformers-{self.xformers_build}-torch-{torch}-{sm}-py{self.python}"


def env_spec(plan: Plan, cfg: HostConfig, matrix: Matrix | None = None) -> EnvSpec:
    """The build of ``plan``'s stack on ``cfg.host`` (pure: no host access)."""
    assert plan.stack is not None and plan.gpu is not None, "preflight refuses unplanned hosts"
    stack, cc = plan.stack, plan.gpu.compute_capability
    torch_pin = f"torch=={stack.torch}+{stack.torch_cuda}"
    requirement, pascal_index = _vllm_requirement(plan, cfg, matrix or load())
    cuda_home = f"{cfg.cuda_root}/cuda-{stack.cuda_toolkit}"
    path = f"{cfg.envs_dir}/{stack.env_name}"
    check_args = ["--torch", stack.torch, "--torch-cuda", stack.torch_cuda, "--cc", cc]
    check_args += ["--cuobjdump", f"{cuda_home}/bin/cuobjdump"]
    check_args += ["--triton-pascal"] if stack.triton_pascal else []
    stamp = {
        "env": stack.env_name,
        "path": path,
        "stack": {
            **stack.contract(),
            "env_name": stack.env_name,
            "triton_pascal": stack.triton_pascal,
        },
        "gpu": {"name": plan.gpu.name, "compute_capability": cc},
    }
    return EnvSpec(
        host=cfg.host,
        name=stack.env_name,
        path=path,
        conda=f"{cfg.conda_prefix}/bin/conda",
        pip_config=f"{cfg.conda_prefix}/pip.conf",
        python=stack.python,
        torch_pin=torch_pin,
        vllm_source=stack.vllm_source,
        vllm_requirement=requirement,
        pip_indexes=_index_args(cfg, stack.torch_cuda, pascal_index),
        cuda_home=cuda_home,
        cc=cc,
        xformers_build=stack.xformers if stack.xformers_build else None,
        wheelhouse=f"{cfg.gpufleet_root}/wheelhouse",
        triton_pascal=stack.triton_pascal,
        check_script=f"{cfg.gpufleet_root}/lib/postinstall.py",
        check_args=tuple(check_args),
        stamp_data=json.dumps(stamp, sort_keys=True),
    )


def _vllm_requirement(plan: Plan, cfg: HostConfig, matrix: Matrix) -> tuple[str, str | None]:
    """What pip installs for vLLM, and the extra index it needs (the Pascal one) if any."""
    stack = plan.stack
    assert stack is not None
    if stack.vllm_source == "github-release":
        wheels = matrix.vllm_wheels_for(stack.vllm)
        assert wheels is not None, f"matrix.yaml has no vllm_wheels row for {stack.vllm}"
        url = cfg.vllm_release_wheel_url.format(
            version=stack.vllm, cuda=stack.torch_cuda, platform=wheels.github_platform
        )
        return url, None
    if stack.vllm_source == "pascal-index":
        pascal = matrix.pascal_builds_for(stack.vllm)
        assert pascal is not None and cfg.pascal_index_url, "preflight checks the Pascal index"
        return f"{pascal.package}=={stack.vllm}", cfg.pascal_index_url
    return f"vllm=={stack.vllm}", None


def _index_args(cfg: HostConfig, torch_cuda: str, pascal: str | None) -> tuple[str, ...]:
    """The stack's own extra indexes on every pip command of its build: the env is built for
    its stack even where pip.conf (written for the host's current stack) names another cu
    index. A command-line option replaces pip.conf's, so trusted hosts are named again."""
    extras = [f"{cfg.pytorch_index_url}/{torch_cuda}"] + ([pascal] if pascal else [])
    args = [arg for url in extras for arg in ("--extra-index-url", url)]
    hosts = trusted_hosts([cfg.pypi_index_url, *extras])
    return tuple(args + [arg for name in hosts for arg in ("--trusted-host", name)])


# --- commands ---


def _pip(spec: EnvSpec, command: str, *args: str, env: str = "", tail: str = "") -> str:
    """``pip COMMAND ARGS`` in the env; install and wheel get the stack's indexes. ``tail`` is
    appended unquoted (a glob, a quoted path)."""
    indexes = spec.pip_indexes if command in ("install", "wheel") else ()
    words = " ".join(shlex.quote(a) for a in (command, *indexes, *args))
    config = f"PIP_CONFIG_FILE={shlex.quote(spec.pip_config)} "
    pip = f"{env}{config}{shlex.quote(spec.python_bin)} -m pip --no-input {words}"
    return f"{pip} {tail}" if tail else pip


def _or_remove(spec: EnvSpec, command: str, what: str) -> str:
    """Run ``command``; on failure remove the half-built env and fail with one line."""
    p = shlex.quote(spec.path)
    message = shlex.quote(f"{spec.host}: {what} failed for env {spec.name}; removed {spec.path}")
    return f"{{ {command}; }} || {{ rm -rf {p}; echo {message} >&2; exit 1; }}"


def _build_env(spec: EnvSpec) -> str:
    """Source builds run cmake/ninja from PATH (vLLM's setup.py, torch's cpp_extension): the
    env's bin first, where the build deps put them; the env is not activated."""
    path = f"PATH={shlex.quote(spec.path + '/bin')}:$PATH "
    cuda = f"CUDA_HOME={shlex.quote(spec.cuda_home)} "
    return f"{path}{cuda}TORCH_CUDA_ARCH_LIST={spec.cc} MAX_JOBS=$jobs "


def _constraints(spec: EnvSpec) -> str:
    pins = [spec.torch_pin] + ([f"xformers=={spec.xformers_build}"] if spec.xformers_build else [])
    body = " ".join(shlex.quote(p) for p in pins)
    return f"printf '%s\\n' {body} > {shlex.quote(spec.constraints)}"


def _xformers(spec: EnvSpec) -> str:
    """Build the xformers wheel once per key into the wheelhouse, then install it from there."""
    wh = shlex.quote(f"{spec.wheelhouse}/{spec.xformers_key}")
    tmp = shlex.quote(f"{spec.wheelhouse}/.{spec.xformers_key}.tmp")
    c = ("-c", spec.constraints)
    deps = _pip(spec, "install", *c, *_XFORMERS_BUILD_DEPS)
    build = _pip(
        spec, "wheel", "--no-deps", "--no-build-isolation", "--no-binary", "xformers", *c,
        f"xformers=={spec.xformers_build}", env=_build_env(spec), tail=f"-w {tmp}",
    )  # fmt: skip
    install = _pip(spec, "install", *c, tail=f"{wh}/xformers-*.whl")
    return (
        f"if ! ls {wh}/xformers-*.whl >/dev/null 2>&1; then {_MAX_JOBS}{deps} && "
        f"rm -rf {tmp} && mkdir -p {tmp} && {build} && rm -rf {wh} && mv {tmp} {wh}; fi"
        f" && {install}"
    )


def _vllm(spec: EnvSpec) -> list[str]:
    c = ("-c", spec.constraints)
    if spec.vllm_source == "source-build":
        deps = _pip(spec, "install", *c, *_BUILD_DEPS)
        # --no-cache-dir: pip keeps a wheel built from an sdist and reuses it for the same
        # sdist, whatever torch build the next env has (the undefined-symbol failure).
        build = _pip(
            spec, "install", *c, "--no-build-isolation", "--no-binary", "vllm", "--no-cache-dir",
            spec.vllm_requirement, env=_build_env(spec),
        )  # fmt: skip
        return [deps, _MAX_JOBS + build]
    return [_pip(spec, "install", *c, spec.vllm_requirement)]


def _triton_pascal(spec: EnvSpec) -> list[str]:
    """Swap triton for triton-pascal and patch torch's inductor to accept sm_6x (idempotent:
    once patched, the pattern no longer matches). The post-install check verifies both."""
    site = f"{shlex.quote(spec.path)}/lib/python*/site-packages"
    files = " ".join(f"{site}/{f}" for f in _PASCAL_PATCH)
    return [
        _pip(spec, "uninstall", "-y", "triton"),
        _pip(spec, "install", "-c", spec.constraints, "triton-pascal"),
        f"sed -i -e 's/\\.major < 7/.major < 6/g' {files}",
    ]


def _check(spec: EnvSpec) -> str:
    args = " ".join(shlex.quote(a) for a in spec.check_args)
    stamp = shlex.quote(f"{spec.path}/{STAMP_NAME}")
    return (
        f"{shlex.quote(spec.python_bin)} {shlex.quote(spec.check_script)} {args} "
        f"--stamp {stamp} --stamp-data {shlex.quote(spec.stamp_data)}"
    )


def build_commands(spec: EnvSpec) -> list[str]:
    """The build, in order: env, constraints, torch, [xformers], vLLM, [Pascal swap], check."""
    p = shlex.quote(spec.path)
    steps: list[tuple[str, str]] = [
        (f"{shlex.quote(spec.conda)} create -y -q -p {p} python={spec.python}", "conda create"),
        (_constraints(spec), "writing the constraints"),
        (_pip(spec, "install", spec.torch_pin), f"installing {spec.torch_pin}"),
    ]
    if spec.xformers_build:
        steps.append((_xformers(spec), f"building xformers {spec.xformers_build}"))
    steps += [(cmd, f"installing {spec.vllm_requirement}") for cmd in _vllm(spec)]
    if spec.triton_pascal:
        steps += [(cmd, "the triton-pascal swap") for cmd in _triton_pascal(spec)]
    steps.append((_check(spec), "the post-install check"))
    return [_or_remove(spec, cmd, what) for cmd, what in steps]


# --- operations ---


@operation()
def built(spec: EnvSpec) -> Generator[str, None, None]:
    """
    Build the conda env of one resolved stack at ``spec.path``, verified and stamped.

    + spec: the build (``env_spec(plan, cfg)``)

    Nothing happens when the env has its stamp. An env dir without a stamp is removed first.

    **Example:**

    .. code:: python

        built(name="Build env vllm-0.8.5.post1-torch-2.6.0-cu124", spec=env_spec(plan, cfg))
    """
    envs_dir = spec.path.rsplit("/", 1)[0]
    stamps = host_facts.get(VllmStacks, envs_dir=envs_dir)
    if stamps.get(spec.name):
        host.noop(f"env {spec.name} is built and stamped")
        return
    logger.info(f"[{host.name}] would build env {spec.name}")
    if spec.name in host_facts.get(CondaEnvs, envs_dir=envs_dir):
        yield f"rm -rf {shlex.quote(spec.path)}"  # an unfinished build: start over
    yield from build_commands(spec)


def stale_envs(
    keep_name: str, names: list[str], stamps: Mapping[str, dict | None], links: Mapping[str, str],
    envs_dir: str, keep: int,
) -> list[str]:  # fmt: skip
    """Envs to remove: all but ``keep_name``, those a service link points at, and the ``keep``
    newest stamped ones (by the stamp's ``built_at_epoch``).

    >>> stale_envs("c", ["a", "b", "c", "d"], {"a": {"built_at_epoch": 1},
    ...     "b": {"built_at_epoch": 2}, "c": {}}, {}, "/e", keep=1)
    ['a', 'd']
    """
    in_use = {t.rstrip("/").rsplit("/", 1)[-1] for t in links.values()}
    in_use |= {n for n in names for t in links.values() if t.startswith(f"{envs_dir}/{n}/")}
    others = [n for n in names if n != keep_name and n not in in_use]
    stamped = [n for n in others if stamps.get(n)]
    stamped.sort(key=lambda n: (stamps[n] or {}).get("built_at_epoch", 0), reverse=True)
    kept = set(stamped[:keep])
    return [n for n in others if n not in kept]


@operation()
def pruned(spec: EnvSpec, keep: int, services_dir: str) -> Generator[str, None, None]:
    """
    Remove old envs: keep ``spec``'s env, every env a symlink in ``<services_dir>/*/`` points
    at, and the ``keep`` newest other stamped envs; remove the rest (unstamped ones included).

    + spec: the env being deployed (never removed)
    + keep: how many other stamped envs to keep (group_data ``keep_envs``)
    + services_dir: ``<gpufleet_root>/services``, where the serving units' links live

    **Example:**

    .. code:: python

        pruned(name="Remove old envs", spec=spec, keep=2, services_dir="/opt/gpufleet/services")
    """
    envs_dir = spec.path.rsplit("/", 1)[0]
    names = host_facts.get(CondaEnvs, envs_dir=envs_dir)
    stamps = host_facts.get(VllmStacks, envs_dir=envs_dir)
    links = host_facts.get(ServiceEnvLinks, services_dir=services_dir)
    stale = stale_envs(spec.name, names, stamps, links, envs_dir, keep)
    if not stale:
        host.noop(f"no env beyond the {keep} kept besides {spec.name} and those in use")
    for name in stale:
        yield f"rm -rf {shlex.quote(f'{envs_dir}/{name}')}"
