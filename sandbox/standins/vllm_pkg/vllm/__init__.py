"""Stand-in vLLM (sandbox only: the real wheel is hundreds of MB of CUDA kernels; see
sandbox/standins/wheels.py). What it keeps of the real package: its version, and the import-time
failure of a build that does not match the installed torch. A real vLLM wheel's `_C.abi3.so` is
linked against the one torch build it was compiled with; under another build the dynamic loader
fails on the first missing symbol. `_gpufleet_build.py` (written when the wheel is built) says
which torch build this one was "compiled against", and `_C.abi3.so` is a stand-in fatbin listing
the GPU archs of the build (`GPUFLEET-STANDIN-FATBIN`, then `elf sm_70` / `ptx sm_90` lines).
"""

import os

from vllm._gpufleet_build import TORCH_BUILD, VERSION

__version__ = VERSION
_C_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_C.abi3.so")
# pre-C++11-ABI mangling of torch::jit::parseSchemaOrName(const std::string&, bool): the symbol
# the real 0.8.5.post1 wheel fails on under torch 2.6.0+cu126 (vllm-project/vllm#13608)
_MISSING_SYMBOL = "_ZN5torch3jit17parseSchemaOrNameERKSsb"


def _load_extension():
    import torch

    if not os.path.isfile(_C_PATH):
        raise ImportError(f"{_C_PATH}: cannot open shared object file: No such file or directory")
    if torch.__version__ != TORCH_BUILD:
        raise ImportError(f"{_C_PATH}: undefined symbol: {_MISSING_SYMBOL}")


_load_extension()
