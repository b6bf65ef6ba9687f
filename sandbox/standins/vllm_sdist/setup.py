"""Stand-in vLLM source build (sandbox only; see sandbox/standins/wheels.py).

The real sdist runs CMake + ninja, which run nvcc from CUDA_HOME for each arch in
TORCH_CUDA_ARCH_LIST, against the torch installed in the build env (built with
`--no-build-isolation`: the env's own torch build, which is the point). This one does what a
provisioning tool can observe of that:
- it needs the build dependencies the real `pyproject.toml` names (cmake and ninja on PATH,
  packaging, setuptools-scm and jinja2 importable) and fails naming the missing one;
- it needs CUDA_HOME with a runnable `bin/nvcc` (`nvcc --version`), and compiles `csrc/_C.cu`
  with one `-gencode` per arch into `vllm/_C.abi3.so`: the toolkit stand-in's nvcc writes a
  stand-in fatbin (`GPUFLEET-STANDIN-FATBIN`, then `elf sm_XY` per arch, `ptx sm_XY` too for
  "+PTX") and refuses an arch its toolkit cannot compile, with nvcc's own message;
- it imports torch and bakes the exact build (`2.7.1+cu118`) into `vllm/_gpufleet_build.py`,
  which vllm/__init__.py compares at import: the wheel runs only on the torch it was built
  against, as the real `_C.abi3.so` does.
Pure setuptools otherwise: pip builds it offline from the mirror.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Distribution, find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
VERSION = (HERE / "version.txt").read_text().strip()
sys.path.insert(0, str(HERE))  # gpufleet_sdist_build.py ships beside this file
from gpufleet_sdist_build import MAGIC, arch_list, failer, nvcc  # noqa: E402

fail = failer("vllm", VERSION)


def build_dependencies():
    """What the real setup.py uses of its build-system requires (not torch: see torch_build)."""
    for tool in ("cmake", "ninja"):
        path = shutil.which(tool)
        if path is None:
            fail(f"{tool} not found on PATH: install the build dependencies in the build env")
        out = subprocess.run([path, "--version"], capture_output=True, text=True)
        if out.returncode != 0:
            fail(f"{path} --version exited {out.returncode}: {out.stderr.strip()}")
    for module in ("packaging.version", "setuptools_scm", "jinja2"):
        try:
            __import__(module)
        except ImportError as error:
            fail(f"cannot import {module} ({error}): install the build dependencies first")


def torch_build():
    try:
        import torch
    except ImportError as error:
        fail(
            f"cannot import torch ({error}): build with --no-build-isolation in the env whose "
            "torch build vLLM is compiled against"
        )
    return torch.__version__


def gencode(archs):
    flags = []
    for arch in archs:
        num = arch.removesuffix("+PTX").replace(".", "")
        flags += ["-gencode", f"arch=compute_{num},code=sm_{num}"]
        if arch.endswith("+PTX"):
            flags += ["-gencode", f"arch=compute_{num},code=compute_{num}"]
    return flags


def compile_kernels(compiler, archs, out):
    cmd = [str(compiler), "-shared", "-Xcompiler", "-fPIC", *gencode(archs)]
    cmd += ["-o", str(out), str(HERE / "csrc" / "_C.cu")]
    print(" ".join(cmd))
    if subprocess.run(cmd).returncode != 0:
        fail(f"nvcc failed for TORCH_CUDA_ARCH_LIST={';'.join(archs)}")
    if not out.is_file() or not out.read_text(errors="replace").startswith(MAGIC):
        fail(f"{compiler} wrote no device code to {out}")


class BuildWithKernels(build_py):
    def run(self):
        super().run()
        build_dependencies()
        torch = torch_build()
        archs = arch_list(fail)
        compiler, _ = nvcc(fail)
        jobs = os.environ.get("MAX_JOBS", "1")
        print(
            f"building vllm {VERSION} kernels for {' '.join(archs)} against torch {torch} "
            f"with MAX_JOBS={jobs}"
        )
        out = Path(self.build_lib) / "vllm"
        out.mkdir(parents=True, exist_ok=True)
        compile_kernels(compiler, archs, out / "_C.abi3.so")
        (out / "_gpufleet_build.py").write_text(
            "# Written by the stand-in vLLM source build (sandbox/standins/vllm_sdist/setup.py).\n"
            f'VERSION = "{VERSION}"\nTORCH_BUILD = "{torch}"\nSOURCE_BUILD = True\n'
        )


class BinaryDistribution(Distribution):
    """Platform-tagged wheel (cp311-cp311-linux_x86_64), as a build with compiled kernels."""

    def has_ext_modules(self):
        return True


setup(
    name="vllm",
    version=VERSION,
    description="vllm (sandbox stand-in, built from source)",
    packages=find_packages(include=["vllm", "vllm.*"]),
    install_requires=[
        line for line in (HERE / "requirements.txt").read_text().splitlines() if line
    ],
    entry_points={"console_scripts": ["vllm = vllm.cli:main"]},
    cmdclass={"build_py": BuildWithKernels},
    distclass=BinaryDistribution,
    zip_safe=False,
)
