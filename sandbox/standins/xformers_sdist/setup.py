"""Stand-in xformers source build (sandbox only; see sandbox/standins/wheels.py).

The real sdist compiles CUDA kernels with nvcc for each arch in TORCH_CUDA_ARCH_LIST; this one
does what a provisioning tool can observe of that: it needs CUDA_HOME with a runnable
`bin/nvcc`, refuses an arch the toolkit cannot compile for (CUDA 13 dropped < sm_75, with nvcc's
own message), and writes `xformers/_C.so` as a stand-in fatbin with one `elf sm_XY` per arch
(`ptx sm_XY` too for "+PTX"). Pure setuptools: pip builds it offline from the mirror.
"""

import os
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
VERSION = (HERE / "version.txt").read_text().strip()
sys.path.insert(0, str(HERE))  # gpufleet_sdist_build.py ships beside this file
from gpufleet_sdist_build import MAGIC, arch_list, failer, nvcc  # noqa: E402

fail = failer("xformers", VERSION)


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
        archs = arch_list(fail)
        _, release = nvcc(fail)
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
