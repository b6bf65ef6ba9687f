"""Stand-in torch (sandbox only: the real wheel is GBs and needs a GPU; see
sandbox/standins/wheels.py). It reports what the real build reports: its version with the CUDA
variant (`2.6.0+cu124`), `torch.version.cuda`, and through `torch.cuda` the variant's real arch
list and the sandbox host's GPU. No tensors. The real torch's dependencies are not declared:
the stand-in installs alone.
"""

from torch import cuda, version
from torch.version import __version__

__all__ = ["__version__", "cuda", "version"]
