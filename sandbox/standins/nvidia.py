"""Stand-ins for NVIDIA's driver and CUDA toolkit runfiles, generated from gpufleet/matrix.yaml.

Test infrastructure only (see sandbox/__init__.py): the sandbox has no GPU and cannot reach
NVIDIA's archive, so the mirror serves tiny shell scripts under the real runfile names, at the
paths of `nvidia_driver_url` and `cuda_runfile_url` in group_data/all.py, with the checksum files
NVIDIA (or a lab mirror) publishes beside them:

    <driver dir>/NVIDIA-Linux-x86_64-<ver>.run            + .run.sha256sum ("<sha256>  <name>")
    <cuda>/<ver>/local_installers/cuda_<ver>_<drv>_linux.run + .run.sha256 (a lab mirror's)
    <cuda>/<ver>/docs/sidebar/md5sum.txt                  (what NVIDIA itself publishes)

The runfiles honour the real installers' flags (unknown flag: the real error, exit 1). The
driver one installs /usr/bin/nvidia-smi (the host's GPU from /etc/gpufleet-sandbox/gpu and
gpu_count, real output formats), nvidia-installer, nvidia-persistenced, a DKMS record and
/var/log/nvidia-installer.log; the CUDA one <toolkitpath>/version.json, bin/nvcc, bin/cuobjdump.
The scripts live in nvidia_files/; one driver and one toolkit row per matrix row.
"""

from __future__ import annotations

import hashlib
import json
import runpy
from pathlib import Path

from gpufleet import gpus
from gpufleet.matrix import DriverBranch, Matrix, Toolkit, load
from sandbox import config, mirror

FILES = Path(__file__).resolve().parent / "nvidia_files"

# nvcc --version of each toolkit: only 13.0.88 is from a real capture (tests/facts/captures);
# the others are recalled public nvcc outputs, unverified. Unknown rows print V<X.Y>.0.
NVCC_BUILDS = {
    "11.8": ("11.8.89", "Wed_Sep_21_10:33:58_PDT_2022", "31833905"),
    "12.1": ("12.1.105", "Mon_Apr__3_17:16:06_PDT_2023", "32688072"),
    "12.2": ("12.2.140", "Tue_Aug_15_22:02:13_PDT_2023", "33191640"),
    "12.4": ("12.4.131", "Thu_Mar_28_02:18:24_PDT_2024", "34097967"),
    "12.6": ("12.6.85", "Thu_Nov_14_22:24:29_PST_2024", "35059454"),
    "12.8": ("12.8.93", "Fri_Feb_21_20:23:50_PST_2025", "35583870"),
    "12.9": ("12.9.86", "Tue_May_27_02:21:03_PDT_2025", "36037853"),
    "13.0": ("13.0.88", "Wed_Aug_20_01:58:59_PM_PDT_2025", "36424714"),
}


def _fill(name: str, **values: str) -> str:
    text = (FILES / name).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text.rstrip("\n")


def gpu_table() -> str:
    """bash `case` arms: nvidia-smi name -> cc, memory (MiB), PCI device id (gpufleet/gpus.py)."""
    arms = []
    for model in gpus.CATALOGUE:
        device = model.pci_ids[0].split(":")[1]
        arms.append(
            f'    "{model.name}") cc={model.compute_capability}; mem={model.vram_mib}; '
            f"pci={device} ;;"
        )
    return "\n".join(arms)


def driver_runfile(branch: DriverBranch) -> str:
    smi = _fill("nvidia-smi.sh", VERSION=branch.version, CUDA=branch.cuda, TABLE=gpu_table())
    return (
        _fill(
            "driver.run.sh",
            VERSION=branch.version,
            BRANCH=branch.branch,
            SMI=smi,
            INSTALLER=_fill("nvidia-installer.sh", VERSION=branch.version),
            PERSISTENCED=_fill("nvidia-persistenced.sh"),
        )
        + "\n"
    )


def version_json(toolkit: Toolkit) -> str:
    """The runfile's version.json (real layout, a subset of its components)."""
    nvcc = NVCC_BUILDS.get(toolkit.short, (f"{toolkit.short}.0", "", ""))[0]
    data = {
        "cuda": {"name": "CUDA SDK", "version": toolkit.version},
        "cuda_cudart": {"name": "CUDA Runtime (cudart)", "version": nvcc},
        "cuda_cuobjdump": {"name": "cuobjdump", "version": nvcc},
        "cuda_nvcc": {"name": "CUDA NVCC", "version": nvcc},
    }
    return json.dumps(data, indent=3).replace('":', '" :')


def _sm(cc: str) -> str:
    return cc.replace(".", "")


def cuda_runfile(toolkit: Toolkit) -> str:
    nvcc_version, built, build = NVCC_BUILDS.get(
        toolkit.short, (f"{toolkit.short}.0", "Thu_Jan__1_00:00:00_UTC_2026", "0")
    )
    nvcc = _fill(
        "nvcc.sh",
        NVCC_VERSION=nvcc_version,
        SHORT=toolkit.short,
        BUILT=built,
        BUILD=build,
        YEAR=built.rsplit("_", 1)[-1] or "2026",
        SM_MIN=_sm(toolkit.sm_min),
        SM_MAX=_sm(toolkit.sm_max),
    )
    return (
        _fill(
            "cuda.run.sh",
            RUNFILE=toolkit.runfile,
            VERSION=toolkit.version,
            SHORT=toolkit.short,
            VERSION_JSON=version_json(toolkit),
            NVCC=nvcc,
            CUOBJDUMP=_fill("cuobjdump.sh"),
        )
        + "\n"
    )


def _urls() -> dict[str, str]:
    data = runpy.run_path(str(config.REPO_ROOT / "group_data" / "all.py"))
    return {k: data[k] for k in ("nvidia_driver_url", "cuda_runfile_url")}


def files(matrix: Matrix | None = None) -> dict[str, bytes]:
    """Upstream URL -> content of every stand-in runfile and checksum file."""
    matrix = matrix or load()
    urls = _urls()
    out: dict[str, bytes] = {}
    for branch in matrix.drivers:
        url = urls["nvidia_driver_url"].format(version=branch.version)
        body = driver_runfile(branch).encode()
        out[url] = body
        name = url.rsplit("/", 1)[1]
        out[url + ".sha256sum"] = f"{hashlib.sha256(body).hexdigest()}  {name}\n".encode()
    for toolkit in matrix.toolkits:
        url = urls["cuda_runfile_url"].format(version=toolkit.version, runfile=toolkit.runfile)
        body = cuda_runfile(toolkit).encode()
        out[url] = body
        out[url + ".sha256"] = f"{hashlib.sha256(body).hexdigest()}  {toolkit.runfile}\n".encode()
        md5_url = url.rsplit("/local_installers/", 1)[0] + "/docs/sidebar/md5sum.txt"
        out[md5_url] = f"{hashlib.md5(body).hexdigest()}  {toolkit.runfile}\n".encode()
    return out


def populate(root: Path | None = None) -> int:
    """Write every stand-in into the mirror tree, only those missing or different (a test that
    tampered with one and died gets it back). Returns how many files were written."""
    root = root or mirror.tree_root()
    written = 0
    for url, body in files().items():
        target = mirror.path_for_url(url, root)
        if target.is_file() and target.read_bytes() == body:
            continue
        mirror.add_file(url, body, root)
        if target.suffix == ".run":
            target.chmod(0o755)
        written += 1
    return written
