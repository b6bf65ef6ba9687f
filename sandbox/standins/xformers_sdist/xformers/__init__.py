"""Stand-in xformers (sandbox only: the real one is CUDA kernels; see sandbox/standins/wheels.py).
`_C.so` beside this file is a stand-in fatbin listing the archs it was built for.
"""

import os

from xformers.version import __version__

_C_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_C.so")

__all__ = ["__version__"]
