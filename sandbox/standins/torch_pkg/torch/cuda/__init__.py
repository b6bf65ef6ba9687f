"""Stand-in `torch.cuda` (sandbox only): a GPU is "available" when the sandbox host has one
configured (/etc/gpufleet-sandbox/gpu) and `nvidia-smi` (the driver stand-in) runs; its compute
capability comes from the GPU table baked in at build time from gpufleet/gpus.py.
"""

import os
import re
import subprocess
from collections import namedtuple

from torch._gpufleet_build import ARCH_LIST, GPUS

GPU_FILE = "/etc/gpufleet-sandbox/gpu"
NVIDIA_SMI = "/usr/bin/nvidia-smi"
_NO_DRIVER = (
    "Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and "
    "installed a driver"
)

_CudaDeviceProperties = namedtuple(
    "_CudaDeviceProperties", "name major minor total_memory multi_processor_count"
)


def _normalise(name):
    key = re.sub(r"[\s_-]+", " ", name.casefold()).strip()
    while key.startswith(("nvidia ", "tesla ")):
        key = key.split(" ", 1)[1] if " " in key else ""
    return key


def _gpu():
    """(name, (major, minor), vram MiB) of the host's GPU, or None."""
    try:
        with open(GPU_FILE) as f:
            name = f.read().strip()
        ok = subprocess.run([NVIDIA_SMI], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return None
    if not ok or _normalise(name) not in GPUS:
        return None
    real_name, cc, vram = GPUS[_normalise(name)]
    major, minor = cc.split(".")
    return real_name, (int(major), int(minor)), vram


def is_available():
    return device_count() > 0


def device_count():
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        return 0
    return 1 if _gpu() else 0


def _require(device):
    gpu = _gpu()
    if gpu is None:
        raise RuntimeError(_NO_DRIVER)
    if device not in (None, 0, "cuda", "cuda:0"):
        raise RuntimeError("CUDA error: invalid device ordinal")
    return gpu


def get_device_capability(device=None):
    return _require(device)[1]


def get_device_name(device=None):
    return _require(device)[0]


def get_device_properties(device=None):
    name, (major, minor), vram = _require(device)
    return _CudaDeviceProperties(name, major, minor, vram * 1024 * 1024, 80)


def get_arch_list():
    """The archs this build was compiled for, as the real wheel reports them."""
    return list(ARCH_LIST) if is_available() else []
