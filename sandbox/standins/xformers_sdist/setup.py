"""Stand-in xformers source build (sandbox only; see sandbox/standins/wheels.py).

The real sdist compiles CUDA kernels with nvcc for each arch in TORCH_CUDA_ARCH_LIST; this one
does what a provisioning tool can observe of that: it needs CUDA_HOME with a runnable
`bin/nvcc`, refuses an arch the toolkit cannot compile for (CUDA 13 dropped < sm_75, with nvcc's
own message), and writes `xformers/_C.so` as a stand-in fatbin with one `elf sm_XY` per arch
(`ptx sm_XY` too for "+PTX"). Pure setuptools: pip builds it offline from the mirror.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
VERSION = (HERE / "version.txt").read_text().strip()
MAGIC = "GPUFLEET-STANDIN-FATBIN"


def fail(message):
    sys.exit(f"error: xformers {VERSION}: {message}")


def arch_list():
    raw = os.environ.get("TORCH_CUDA_ARCH_LIST", "").strip()
    if not raw:
        fail("TORCH_CUDA_ARCH_LIST is not set: name the GPU archs to build for, e.g. 7.0")
    archs = [a for a in re.split(r"[;\s]+", raw) if a]
    for arch in archs:
        if not re.fullmatch(r"\d+\.\d+(\+PTX)?", arch):
            fail(f"TORCH_CUDA_ARCH_LIST entry {arch!r} is not of the form 7.0 or 8.0+PTX")
    return archs


def nvcc_release():
    cuda_home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if not cuda_home:
        fail("CUDA_HOME is not set: building the CUDA extensions needs nvcc from a CUDA toolkit")
    nvcc = Path(cuda_home) / "bin" / "nvcc"
    if not os.access(nvcc, os.X_OK):
        fail(f"{nvcc} not found or not executable (CUDA_HOME={cuda_home})")
    result = subprocess.run([str(nvcc), "--version"], capture_output=True, text=True)
    if result.returncode != 0:
        fail(f"{nvcc} --version exited {result.returncode}: {result.stderr.strip()}")
    print(result.stdout, end="")
    match = re.search(r"release (\d+)\.(\d+)", result.stdout)
    if not match:
        fail(f"cannot read the CUDA release from `{nvcc} --version`")
    return int(match[1]), int(match[2])


def fatbin(archs, release):
    lines = [MAGIC]
    for arch in archs:
        major, minor = arch.removesuffix("+PTX").split(".")
        if release >= (13, 0) and (int(major), int(minor)) < (7, 5):
            sys.exit(f"nvcc fatal   : Unsupported gpu architecture 'compute_{major}{minor}'")
        lines.append(f"elf sm_{major}{minor}")
        if arch.endswith("+PTX"):
            lines.append(f"ptx sm_{major}{minor}")
    return "\n".join(lines) + "\n"


class BuildWithKernels(build_py):
    def run(self):
        super().run()
        archs = arch_list()
        release = nvcc_release()
        jobs = os.environ.get("MAX_JOBS", "1")
        print(f"building xformers {VERSION} kernels for {' '.join(archs)} with MAX_JOBS={jobs}")
        out = Path(self.build_lib) / "xformers"
        out.mkdir(parents=True, exist_ok=True)
        (out / "_C.so").write_text(fatbin(archs, release))
        (out / "version.py").write_text(f'__version__ = "{VERSION}"\n')


class BinaryDistribution(Distribution):
    """Platform-tagged wheel (cp311-cp311-linux_x86_64), as a build with compiled kernels."""

    def has_ext_modules(self):
        return True


setup(
    name="xformers",
    version=VERSION,
    description="xformers (sandbox stand-in)",
    packages=["xformers"],
    install_requires=[
        line for line in (HERE / "requirements.txt").read_text().splitlines() if line
    ],
    cmdclass={"build_py": BuildWithKernels},
    distclass=BinaryDistribution,
    zip_safe=False,
)
