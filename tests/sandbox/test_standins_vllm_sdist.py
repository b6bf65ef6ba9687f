"""The stand-in vLLM sdist (sandbox/standins/vllm_sdist/, wheel_builder.build_vllm_sdist) built
the way gpufleet/operations/env.py builds vLLM from source: `pip wheel --no-build-isolation`
against an env holding the stand-in torch and the real build-dependency wheels of the mirror,
CUDA_HOME = a toolkit stand-in with its nvcc, TORCH_CUDA_ARCH_LIST = the GPU's arch."""

from __future__ import annotations

import email
import io
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from gpufleet.matrix import load
from sandbox.standins import nvidia, wheels
from sandbox.standins import wheel_builder as wb

VERSION, TORCH = "0.10.0", "2.7.1"
TORCH_TAG = "cp311-cp311-manylinux_2_28_x86_64"


def _toolkit(root: Path, short: str) -> Path:
    """`<root>/cuda-<short>/bin/nvcc`: the CUDA runfile stand-in's nvcc for that toolkit."""
    row = next(t for t in load().toolkits if t.short == short)
    script = nvidia.cuda_runfile(row).split("<<'NVCC_EOF'\n", 1)[1].split("\nNVCC_EOF", 1)[0]
    nvcc = root / f"cuda-{short}" / "bin" / "nvcc"
    nvcc.parent.mkdir(parents=True)
    nvcc.write_text(script + "\n")
    nvcc.chmod(0o755)
    return nvcc.parent.parent


def _install(target: Path, *paths: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index"]
    subprocess.run([*cmd, "--target", str(target), *map(str, paths)], check=True)


def _torch(tmp: Path, variant: str) -> Path:
    name, data = wb.build_torch_wheel(TORCH, variant, ["7.0", "9.0"], TORCH_TAG)
    (tmp / name).write_bytes(data)
    return tmp / name


@pytest.fixture(scope="module")
def build_env(tmp_path_factory) -> dict:
    """A build env: torch 2.7.1+cu118, the mirror's real build-dependency wheels (bin/cmake,
    bin/ninja), the sdist, and the CUDA 11.8 and 13.0 toolkit stand-ins."""
    tmp = tmp_path_factory.mktemp("vllm-sdist")
    site = tmp / "site"
    deps = [w for w in wheels.build_tool_wheels() if not w.name.startswith("pip-")]
    names = {wb.dist_name(w.name.split("-")[0]) for w in deps}
    assert names >= {wb.dist_name(n) for n in (*wheels.BUILD_DEPS, "setuptools", "wheel")}
    _install(site, _torch(tmp, "cu118"), *deps)
    name, data = wb.build_vllm_sdist(VERSION, TORCH, xformers="0.0.31")
    (tmp / name).write_bytes(data)
    return {
        "tmp": tmp, "site": site, "sdist": tmp / name,
        "cuda": _toolkit(tmp, "11.8"), "cuda13": _toolkit(tmp, "13.0"),
    }  # fmt: skip


def _build(env: dict, out: Path, **overrides: str) -> subprocess.CompletedProcess:
    """`pip wheel --no-build-isolation` of the sdist, as env.py runs it (offline here)."""
    variables = {
        **os.environ,
        "PYTHONPATH": str(env["site"]),
        "PATH": f"{env['site']}/bin:/usr/bin:/bin",
        "CUDA_HOME": str(env["cuda"]),
        "TORCH_CUDA_ARCH_LIST": "7.0",
        "MAX_JOBS": "2",
        "PIP_CONFIG_FILE": os.devnull,
        **overrides,
    }
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index", "--no-cache-dir"]
    cmd += ["--no-build-isolation", "-w", str(out), str(env["sdist"])]
    return subprocess.run(cmd, env=variables, capture_output=True, text=True)


def test_sdist_holds_the_stand_in_package_and_the_real_build_requires(build_env):
    with tarfile.open(build_env["sdist"]) as tf:
        names = {m.name.split("/", 1)[1] for m in tf.getmembers()}
        pyproject = tf.extractfile(f"vllm-{VERSION}/pyproject.toml").read().decode()
        pkg_info = email.message_from_bytes(tf.extractfile(f"vllm-{VERSION}/PKG-INFO").read())
    assert {"setup.py", "csrc/_C.cu", "version.txt", "PKG-INFO", "vllm/cli.py"} <= names
    assert "vllm/entrypoints/openai/api_server.py" in names
    # what only a build writes is not in the source tree
    assert not names & {"vllm/_C.abi3.so", "vllm/_gpufleet_build.py"}
    for requirement in ("cmake", "ninja", "setuptools-scm", "jinja2", f"torch=={TORCH}"):
        assert f'"{requirement}' in pyproject, requirement
    assert pkg_info["Version"] == VERSION
    assert pkg_info.get_all("Requires-Dist")[0] == f"torch=={TORCH}"


def test_build_compiles_for_the_arch_list_against_the_envs_torch(build_env, tmp_path):
    result = _build(build_env, tmp_path / "out", TORCH_CUDA_ARCH_LIST="7.0;8.0+PTX")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    built = next((tmp_path / "out").glob(f"vllm-{VERSION}-*.whl"))
    assert built.name.endswith("-linux_x86_64.whl")
    with zipfile.ZipFile(built) as zf:
        assert zf.read("vllm/_C.abi3.so").decode().splitlines() == [
            wb.FATBIN_MAGIC, "elf sm_70", "elf sm_80", "ptx sm_80",
        ]  # fmt: skip
        baked = zf.read("vllm/_gpufleet_build.py").decode()
        info = next(n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt"))
        assert "vllm = vllm.cli:main" in zf.read(info).decode()
    assert f'TORCH_BUILD = "{TORCH}+cu118"' in baked and "SOURCE_BUILD = True" in baked
    # it imports under the torch it was built against, and fails like the real one under another
    for variant, ok in (("cu118", True), ("cu126", False)):
        run = tmp_path / variant
        _install(run, built, _torch(tmp_path, variant))
        code = "import vllm; print(vllm.__version__)"
        got = subprocess.run(
            [sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(run)},
            capture_output=True, text=True,
        )  # fmt: skip
        assert (got.returncode == 0) is ok, got.stderr
        assert (VERSION in got.stdout) if ok else ("undefined symbol" in got.stderr)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"CUDA_HOME": "/nonexistent/cuda"}, "/nonexistent/cuda/bin/nvcc not found"),
        ({"TORCH_CUDA_ARCH_LIST": ""}, "TORCH_CUDA_ARCH_LIST is not set"),
        ({"PATH": "/nonexistent"}, "cmake not found on PATH"),
        ({"no_torch": "1"}, "cannot import torch"),  # the env's own torch, never an isolated one
        ({"cuda13": "1"}, "Unsupported gpu architecture 'compute_70'"),  # CUDA 13 has no sm_70
    ],
)
def test_build_fails_clearly_without_what_it_needs(build_env, tmp_path, overrides, message):
    if overrides.pop("cuda13", None):
        overrides["CUDA_HOME"] = str(build_env["cuda13"])
    if overrides.pop("no_torch", None):  # an env without torch: a package that fails to import
        (tmp_path / "hide" / "torch").mkdir(parents=True)
        (tmp_path / "hide" / "torch" / "__init__.py").write_text("raise ImportError('no torch')\n")
        overrides["PYTHONPATH"] = f"{tmp_path / 'hide'}:{build_env['site']}"
    result = _build(build_env, tmp_path / "out", **overrides)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not list((tmp_path / "out").glob("*.whl"))


def test_populate_publishes_an_sdist_per_release_and_the_build_dependencies(tmp_path):
    files = wheels.all_files()
    pypi = wheels.upstream_urls()["pypi_index_url"]
    for r in load().vllm_releases:
        if r.torch is None or load().vllm_wheels_for(r.version) is None:
            continue
        sdist = files[f"{pypi}/vllm/vllm-{r.version}.tar.gz"]
        with tarfile.open(fileobj=io.BytesIO(sdist)) as tf:
            member = tf.extractfile(f"vllm-{r.version}/requirements.txt")
            assert member.read().decode().splitlines()[0] == f"torch=={r.torch}", r.version
    for project in wheels.BUILD_DEPS:
        published = [u for u in files if u.startswith(f"{pypi}/{project}/")]  # PEP 503 names
        assert any(u.endswith(".whl") for u in published), project
