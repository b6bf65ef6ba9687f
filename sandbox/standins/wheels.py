"""The sandbox mirror's Python stack: stand-in torch, vLLM, xformers and triton packages, built
from gpufleet/matrix.yaml and published at the paths of group_data/all.py's upstream URLs.

Stand-in (test infrastructure only, see sandbox/__init__.py): hosts reach no index but the
mirror, and the real wheels are GBs of GPU code. What is real: file names and tags, PEP 503/691
layout, METADATA pins (so pip resolves exactly as against the real indexes), PEP 658 `.metadata`
for exactly the releases matrix.yaml records as `metadata: pep658` (the others are read from the
wheel by HTTP Range: both paths of `gpufleet matrix refresh` are exercised), and the real
setuptools, wheel and pip wheels (downloaded once on this box into sandbox/cache/pypi/) so pip
can build the xformers sdist with build isolation and envs can get pip offline; the real
wheels of a vLLM source build's build dependencies (BUILD_DEPS) likewise.

What the mirror holds (paths = upstream URL paths):
    /whl/<cuXYZ>/torch/torch-<v>+<cuXYZ>-<cp311|cp312>-...whl   every torch pinned by a vLLM
                                                                  release x every variant
    /simple/torch/torch-<v>-...whl                                the PyPI build (pypi variant)
    /simple/vllm/vllm-<v>-cp38-abi3-<platform>.whl [+ .metadata]  every vllm_releases row
    /simple/vllm/vllm-<v>.tar.gz                                  its sdist (vllm_sdist/ builds)
    /vllm-project/vllm/releases/download/v<v>/vllm-<v>+<cu>-...   GitHub-release variants
    <pascal index>/vllm-pascal/, /triton-pascal/                  community Pascal builds
    /simple/xformers/xformers-<v>-...whl, xformers-<v>.tar.gz     prebuilt + source
    /simple/{triton,setuptools,wheel,pip}/, /simple/<BUILD_DEPS>/   real wheels (cmake, ninja...)
    Miniforge3-<v>-Linux-x86_64.sh(.sha256)                       sandbox/standins/miniforge.py

`populate()` is fast (~1 s) and skips all work when its inputs are unchanged (content hash).
"""

from __future__ import annotations

import hashlib
import json
import runpy
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from gpufleet import matrix as matrix_mod
from gpufleet.matrix import Matrix, cuda_of_variant
from sandbox import config, mirror, simple_index
from sandbox.standins import miniforge
from sandbox.standins import wheel_builder as wb

GROUP_DATA = config.REPO_ROOT / "group_data" / "all.py"
SANDBOX_INVENTORY = config.REPO_ROOT / "inventories" / "sandbox.py"
PYPI_CACHE = config.CACHE_DIR / "pypi"
BUILD_TOOLS = ("setuptools", "wheel", "pip")  # real wheels, fetched once from PyPI on this box
# Real wheels of what a vLLM source build installs first (gpufleet/operations/env.py _BUILD_DEPS,
# setuptools and wheel being BUILD_TOOLS) and what those require on Python 3.11.
BUILD_DEPS = ("cmake", "ninja", "packaging", "setuptools-scm", "vcs-versioning", "jinja2",
              "markupsafe")  # fmt: skip
# The sandbox hosts' interpreter and platform (Debian bookworm: CPython 3.11, glibc 2.36); pip
# does not widen a given --platform to older manylinux tags itself.
_MANYLINUX = ["manylinux2014_x86_64"] + [f"manylinux_2_{g}_x86_64" for g in range(36, 16, -1)]
_HOST_WHEELS = ["--python-version", "3.11", "--implementation", "cp", "--abi", "cp311"]
_HOST_WHEELS += [arg for tag in _MANYLINUX for arg in ("--platform", tag)]
STAMP = ".gpufleet-standins-python.json"
PYTHON_TAGS = ("cp311", "cp312")  # sandbox hosts run Debian's 3.11; 3.12 for other pins
# The mirror's path of pascal_index_url: inventories/sandbox.py's _PASCAL_INDEX_PATH.
PASCAL_INDEX_PATH = "/pascal/simple"
# triton each torch release requires (its wheel's `Requires-Dist: triton==...`); only the
# releases the Pascal builds need: matrix.yaml has no triton column.
TRITON_FOR_TORCH = {"2.4.0": "3.0.0", "2.5.1": "3.1.0", "2.6.0": "3.2.0", "2.7.0": "3.3.0",
                    "2.7.1": "3.3.1"}  # fmt: skip


def upstream_urls() -> dict[str, str]:
    """group_data/all.py's URL settings, plus the Pascal index at the sandbox's path."""
    data = runpy.run_path(str(GROUP_DATA))
    urls = {k: v for k, v in data.items() if k.endswith("_url") and isinstance(v, str)}
    urls["pascal_index_url"] = PASCAL_INDEX_PATH
    urls["miniforge_version"] = data["miniforge_version"]
    return urls


def _raw_releases() -> dict:
    return yaml.safe_load(matrix_mod.MATRIX_PATH.read_text())["vllm_releases"]


def _glibc_tag(m: Matrix, torch: str) -> str:
    row = m.torch_glibc_for(torch)
    if row is None or row.value == "2.17":
        return "manylinux_2_17_x86_64.manylinux2014_x86_64"
    return f"manylinux_{row.value.replace('.', '_')}_x86_64"


def _toolkit_sm(m: Matrix, variant: str) -> tuple[str, str]:
    want = cuda_of_variant(variant)
    for toolkit in m.toolkits:
        if Version(toolkit.short) == want:
            return toolkit.sm_min, toolkit.sm_max
    raise ValueError(f"matrix.yaml: no cuda_toolkits row for CUDA {want} (variant {variant})")


def _pythons(m: Matrix, torch: str) -> list[str]:
    row = m.torch_python_for(torch)
    python = SpecifierSet(row.value) if row else SpecifierSet()
    return [t for t in PYTHON_TAGS if python.contains(f"{t[2]}.{t[3:]}")]


def torch_files(m: Matrix, urls: dict) -> Iterator[tuple[str, bytes]]:
    """Every torch pinned by a release x every variant of its torch_builds row, + PyPI's."""
    for torch in sorted({r.torch for r in m.vllm_releases if r.torch}, key=Version):
        build = m.torch_build(torch)
        if build is None:
            continue
        python = m.torch_python_for(torch)
        for py in _pythons(m, torch):
            tag = f"{py}-{py}-{_glibc_tag(m, torch)}"
            for variant, archs in build.variants.items():
                name, data = wb.build_torch_wheel(
                    torch, variant, archs, tag, python and python.value
                )
                yield f"{urls['pytorch_index_url']}/{variant}/torch/{name}", data
            name, data = wb.build_torch_wheel(
                torch, build.pypi, build.variants[build.pypi], tag, python and python.value, False
            )
            yield f"{urls['pypi_index_url']}/torch/{name}", data


def vllm_files(m: Matrix, urls: dict) -> Iterator[tuple[str, bytes]]:
    """PyPI wheels (+ `.metadata` where the real index has one) and GitHub-release variants."""
    raw = _raw_releases()
    for r in m.vllm_releases:
        wheels = m.vllm_wheels_for(r.version)
        if wheels is None or r.torch is None:
            continue
        platform = wheels.github_platform
        common = {"xformers": r.xformers, "requires_python": r.requires_python or None}
        for variant, pypi in [(wheels.pypi, True)] + [(v, False) for v in wheels.github]:
            archs = wb.vllm_archs(wheels.min_cc, _toolkit_sm(m, variant))
            name, data, meta = wb.build_vllm_wheel(
                r.version,
                f"{r.torch}+{variant}",
                archs,
                tag=f"cp38-abi3-{platform}",
                wheel_version=None if pypi else f"{r.version}+{variant}",
                **common,
            )
            if pypi:
                url = f"{urls['pypi_index_url']}/vllm/{name}"
                yield url, data
                if raw[r.version].get("metadata") == "pep658":
                    yield url + ".metadata", meta
                name, data = wb.build_vllm_sdist(r.version, r.torch, **common)
                yield f"{urls['pypi_index_url']}/vllm/{name}", data
            else:
                template = urls["vllm_release_wheel_url"]
                url = template.format(version=r.version, cuda=variant, platform=platform)
                if not url.endswith("/" + name):
                    raise ValueError(f"vllm_release_wheel_url {template} does not name {name}")
                yield url, data


def pascal_files(m: Matrix, urls: dict) -> Iterator[tuple[str, bytes]]:
    """vllm-pascal for releases in pascal_builds (built against torch's PyPI variant, Pascal
    archs only), triton-pascal for the torch releases those need."""
    tritons = set()
    for r in m.vllm_releases:
        pascal = m.pascal_builds_for(r.version)
        build = m.torch_build(r.torch) if r.torch else None
        if pascal is None or build is None:
            continue
        name, data, _ = wb.build_vllm_wheel(
            r.version,
            f"{r.torch}+{build.pypi}",
            pascal.archs,
            name=pascal.package,
            xformers=r.xformers,
            requires_python=r.requires_python or None,
        )
        project = simple_index.normalize(pascal.package)
        yield f"{urls['pascal_index_url']}/{project}/{name}", data
        if pascal.triton_pascal.contains(Version(r.version)) and r.torch in TRITON_FOR_TORCH:
            tritons.add(TRITON_FOR_TORCH[r.torch])
    for version in sorted(tritons, key=Version):
        for py in PYTHON_TAGS:
            tag = f"{py}-{py}-manylinux_2_17_x86_64.manylinux2014_x86_64"
            name, data = wb.build_triton_wheel("triton-pascal", version, tag)
            yield f"{urls['pascal_index_url']}/triton-pascal/{name}", data
            name, data = wb.build_triton_wheel("triton", version, tag)
            yield f"{urls['pypi_index_url']}/triton/{name}", data


def xformers_files(m: Matrix, urls: dict) -> Iterator[tuple[str, bytes]]:
    """Each pinned xformers: wheels with the upstream archs, and the sdist that "builds"."""
    pins = {r.xformers: r.torch for r in m.vllm_releases if r.xformers and r.torch}
    for version, torch in sorted(pins.items(), key=lambda kv: Version(kv[0])):
        row = m.xformers_wheels_for(version)
        archs = row.archs if row else ()
        for py in _pythons(m, torch):
            tag = f"{py}-{py}-{_glibc_tag(m, torch)}"
            name, data = wb.build_xformers_wheel(version, torch, archs, tag)
            yield f"{urls['pypi_index_url']}/xformers/{name}", data
        name, data = wb.build_xformers_sdist(version, torch)
        yield f"{urls['pypi_index_url']}/xformers/{name}", data


def build_tool_wheels() -> list[Path]:
    """The real wheels of BUILD_TOOLS and BUILD_DEPS for the hosts' CPython 3.11 x86_64,
    downloaded once into sandbox/cache/pypi/ (only those not there yet)."""
    have = {wb.dist_name(p.name.split("-")[0]) for p in PYPI_CACHE.glob("*.whl")}
    missing = [n for n in (*BUILD_TOOLS, *BUILD_DEPS) if wb.dist_name(n) not in have]
    if missing:
        PYPI_CACHE.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:"]
        subprocess.run([*cmd, *_HOST_WHEELS, "-d", str(PYPI_CACHE), *missing], check=True)
    return sorted(PYPI_CACHE.glob("*.whl"))


def all_files(m: Matrix | None = None) -> dict[str, bytes | Path]:
    """{upstream URL: content} of every Python-stack stand-in file."""
    m = m or matrix_mod.load()
    urls = upstream_urls()
    files: dict[str, bytes | Path] = {}
    for source in (torch_files, vllm_files, pascal_files, xformers_files):
        files.update(source(m, urls))
    for wheel in build_tool_wheels():
        project = simple_index.normalize(wheel.name.split("-")[0])  # "setuptools-scm"
        files[f"{urls['pypi_index_url']}/{project}/{wheel.name}"] = wheel
    files.update(miniforge.files(urls, build_tool_wheels()))
    return files


def inputs_hash() -> str:
    """sha256 over everything the files are made from: change any and populate() rebuilds."""
    digest = hashlib.sha256()
    sources = [matrix_mod.MATRIX_PATH, config.REPO_ROOT / "gpufleet" / "gpus.py", GROUP_DATA]
    sources += [wb.STANDINS / f for f in ("wheels.py", "wheel_builder.py", "miniforge.py")]
    sources.append(wb.SDIST_BUILD)
    for tree in (wb.TORCH_PKG, wb.VLLM_PKG, wb.XFORMERS_SDIST, wb.VLLM_SDIST):
        sources += sorted(p for p in tree.rglob("*") if "__pycache__" not in p.parts)
    sources += build_tool_wheels()
    for path in sources:
        if path.is_file():
            digest.update(f"{path.relative_to(config.REPO_ROOT)}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def populate(root: Path | None = None, force: bool = False) -> dict:
    """Publish every stand-in on the mirror tree; a no-op when the inputs and files are as the
    last run left them. Files the previous run wrote and this one does not are removed.
    Returns {"changed": bool, "files": N, "seconds": s}."""
    started = time.monotonic()
    root = root or mirror.tree_root()
    stamp_path = root / STAMP
    digest = inputs_hash()
    old = json.loads(stamp_path.read_text()) if stamp_path.is_file() else {}
    old_files = old.get("files", [])
    intact = all((root / p).is_file() for p in old_files)
    if not force and old.get("hash") == digest and intact:
        return {"changed": False, "files": len(old_files), "seconds": time.monotonic() - started}
    written = []
    for url, content in all_files().items():
        written.append(str(mirror.add_file(url, content, root).relative_to(root)))
    for stale in set(old_files) - set(written):
        (root / stale).unlink(missing_ok=True)
    mirror.add_file(STAMP, json.dumps({"hash": digest, "files": sorted(written)}), root)
    return {"changed": True, "files": len(written), "seconds": time.monotonic() - started}


def main() -> None:
    """`python -m sandbox.standins.wheels [--force]`: populate the mirror tree now."""
    result = populate(force="--force" in sys.argv[1:])
    state = "written" if result["changed"] else "unchanged"
    print(
        f"sandbox: python stand-ins {state}: {result['files']} files in {result['seconds']:.1f} s"
    )


if __name__ == "__main__":
    main()
