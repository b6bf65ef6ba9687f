"""Build checks shared by the stand-in sdists (sandbox only; see sandbox/standins/wheels.py).

wheel_builder copies this file into each stand-in sdist (xformers, vLLM) as
`gpufleet_sdist_build.py`, where its setup.py imports it at build time: what a real CUDA
extension build needs from its environment (TORCH_CUDA_ARCH_LIST, CUDA_HOME's nvcc), checked
with the same messages in both.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

MAGIC = "GPUFLEET-STANDIN-FATBIN"


def failer(package, version):
    """A fail(message) that stops the build naming the package, like a real build's error."""

    def fail(message):
        sys.exit(f"error: {package} {version}: {message}")

    return fail


def arch_list(fail):
    """TORCH_CUDA_ARCH_LIST as a list ("7.0;8.0+PTX" -> ["7.0", "8.0+PTX"])."""
    raw = os.environ.get("TORCH_CUDA_ARCH_LIST", "").strip()
    if not raw:
        fail("TORCH_CUDA_ARCH_LIST is not set: name the GPU archs to build for, e.g. 7.0")
    archs = [a for a in re.split(r"[;\s]+", raw) if a]
    for arch in archs:
        if not re.fullmatch(r"\d+\.\d+(\+PTX)?", arch):
            fail(f"TORCH_CUDA_ARCH_LIST entry {arch!r} is not of the form 7.0 or 8.0+PTX")
    return archs


def nvcc(fail):
    """CUDA_HOME's nvcc, run once (`--version`): its path and CUDA release (major, minor)."""
    cuda_home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if not cuda_home:
        fail("CUDA_HOME is not set: building the CUDA kernels needs nvcc from a CUDA toolkit")
    path = Path(cuda_home) / "bin" / "nvcc"
    if not os.access(path, os.X_OK):
        fail(f"{path} not found or not executable (CUDA_HOME={cuda_home})")
    result = subprocess.run([str(path), "--version"], capture_output=True, text=True)
    if result.returncode != 0:
        fail(f"{path} --version exited {result.returncode}: {result.stderr.strip()}")
    print(result.stdout, end="")
    match = re.search(r"release (\d+)\.(\d+)", result.stdout)
    if not match:
        fail(f"cannot read the CUDA release from `{path} --version`")
    return path, (int(match[1]), int(match[2]))
