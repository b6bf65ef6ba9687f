"""Wheel and sdist writers for the sandbox's stand-in Python packages: real formats, tiny files.

Stand-in (test infrastructure only, see sandbox/__init__.py): torch, vLLM, xformers and triton
are GBs and need a GPU; what the sandbox needs of them is their names, versions, pins, index
behaviour and a few attributes, so these functions build small packages that pip installs like
the real ones (PEP 427 wheels: dist-info METADATA, WHEEL, RECORD with sha256 of every file;
PEP 517-buildable sdists). Output is deterministic (fixed timestamps), so an unchanged input
gives byte-identical files and unchanged hashes on the index.

    >>> name, data = build_wheel("demo", "1.0", "py3-none-any", {"demo/__init__.py": b""})
    >>> name
    'demo-1.0-py3-none-any.whl'

Stand-in fatbins (the contract shared with the CUDA toolkit stand-in's `cuobjdump`): a text file
whose first line is FATBIN_MAGIC, then one `elf sm_XY` (SASS) or `ptx sm_XY` line per target.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tarfile
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

FATBIN_MAGIC = "GPUFLEET-STANDIN-FATBIN"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # zip's earliest date: reproducible archives
_GENERATOR = "gpufleet-sandbox-standin"


def dist_name(name: str) -> str:
    """Wheel file-name form of a project name: `dist_name("vllm-pascal")` -> "vllm_pascal"."""
    return re.sub(r"[-_.]+", "_", name).lower()


def sm(arch: str) -> str:
    """ "7.0" -> "sm_70", "12.0+PTX" -> "sm_120" (the +PTX suffix is handled by callers)."""
    major, minor = arch.removesuffix("+PTX").split(".")
    return f"sm_{major}{minor}"


def arch_targets(archs: Iterable[str]) -> list[tuple[str, str]]:
    """TORCH_CUDA_ARCH_LIST entries -> fatbin targets: SASS for each, PTX too for "+PTX".

    >>> arch_targets(["7.0", "8.0+PTX"])
    [('elf', 'sm_70'), ('elf', 'sm_80'), ('ptx', 'sm_80')]
    """
    targets = []
    for arch in archs:
        targets.append(("elf", sm(arch)))
        if arch.endswith("+PTX"):
            targets.append(("ptx", sm(arch)))
    return targets


def fatbin(targets: Iterable[tuple[str, str]]) -> bytes:
    """A stand-in fatbin: `fatbin([("elf", "sm_70")])` -> FATBIN_MAGIC + "\\nelf sm_70\\n"."""
    lines = [FATBIN_MAGIC, *(f"{kind} {arch}" for kind, arch in targets)]
    return ("\n".join(lines) + "\n").encode()


def metadata(
    name: str,
    version: str,
    summary: str,
    requires: Iterable[str] = (),
    requires_python: str | None = None,
) -> bytes:
    """Core metadata (METADATA / PKG-INFO / PEP 658 `.metadata`), as the real wheels write it."""
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", f"Summary: {summary}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Requires-Dist: {r}" for r in requires]
    return ("\n".join(lines) + "\n\n").encode()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def _zip_write(zf: zipfile.ZipFile, path: str, data: bytes) -> None:
    info = zipfile.ZipInfo(path, date_time=_EPOCH)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def build_wheel(
    name: str,
    version: str,
    tag: str,
    files: Mapping[str, bytes],
    meta: bytes | None = None,
    entry_points: Mapping[str, str] | None = None,
) -> tuple[str, bytes]:
    """A wheel of `files` (archive path -> bytes): returns (file name, bytes).

    `tag` is "<python>-<abi>-<platform>" ("cp38-abi3-manylinux1_x86_64"); `meta` the METADATA
    (default: name, version, no requirements); `entry_points` console scripts {"vllm":
    "vllm.cli:main"}. The dist-info goes last: index readers find METADATA in the zip's tail."""
    stem = f"{dist_name(name)}-{version}"
    info = f"{stem}.dist-info"
    wheel_meta = f"Wheel-Version: 1.0\nGenerator: {_GENERATOR}\nRoot-Is-Purelib: false\n"
    wheel_meta += "".join(f"Tag: {t}\n" for t in _expand_tags(tag))
    extra = {
        f"{info}/METADATA": meta or metadata(name, version, f"{name} (sandbox stand-in)"),
        f"{info}/WHEEL": wheel_meta.encode(),
    }
    if entry_points:
        scripts = "".join(f"{k} = {v}\n" for k, v in sorted(entry_points.items()))
        extra[f"{info}/entry_points.txt"] = f"[console_scripts]\n{scripts}".encode()
    everything = {**dict(sorted(files.items())), **extra}
    record = "".join(f"{p},{_record_hash(d)},{len(d)}\n" for p, d in everything.items())
    record += f"{info}/RECORD,,\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path, data in everything.items():
            _zip_write(zf, path, data)
        _zip_write(zf, f"{info}/RECORD", record.encode())
    return f"{stem}-{tag}.whl", buf.getvalue()


def _expand_tags(tag: str) -> list[str]:
    """ "cp311-cp311-a.b" -> ["cp311-cp311-a", "cp311-cp311-b"] (compressed tag sets)."""
    py, abi, plat = tag.split("-")
    return [
        f"{p}-{a}-{pl}" for p in py.split(".") for a in abi.split(".") for pl in plat.split(".")
    ]


def build_sdist(name: str, version: str, files: Mapping[str, bytes], pkg_info: bytes) -> bytes:
    """`<name>-<version>.tar.gz` holding `files` under `<name>-<version>/`, plus PKG-INFO."""
    top = f"{name}-{version}"
    buf = io.BytesIO()
    # mtime 0 and a fixed gzip header: reproducible bytes
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT, compresslevel=6) as tf:
        for path, data in sorted({**files, "PKG-INFO": pkg_info}.items()):
            member = tarfile.TarInfo(f"{top}/{path}")
            member.size, member.mode, member.mtime = len(data), 0o644, 0
            tf.addfile(member, io.BytesIO(data))
    raw = buf.getvalue()
    return raw[:4] + b"\0\0\0\0" + raw[8:]  # zero the gzip header's mtime


def tree_files(directory: Path, prefix: str = "") -> dict[str, bytes]:
    """Every file under `directory` (no caches, no compiled files) as {archive path: bytes}."""
    files = {}
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
            continue
        files[prefix + path.relative_to(directory).as_posix()] = path.read_bytes()
    return files


# --- The stand-in packages -----------------------------------------------------------------
STANDINS = Path(__file__).resolve().parent
TORCH_PKG = STANDINS / "torch_pkg"
VLLM_PKG = STANDINS / "vllm_pkg"
XFORMERS_SDIST = STANDINS / "xformers_sdist"
VLLM_SDIST = STANDINS / "vllm_sdist"
SDIST_BUILD = STANDINS / "sdist_build.py"  # shipped in each sdist as gpufleet_sdist_build.py
# Files the builders write themselves: never taken from the source trees.
_GENERATED = ("torch/version.py", "torch/_gpufleet_build.py", "vllm/_gpufleet_build.py")


def gpu_table() -> dict[str, tuple[str, str, int]]:
    """{normalised name or alias: (nvidia-smi name, compute capability, VRAM MiB)}, from
    gpufleet/gpus.py: baked into the stand-in torch, which cannot import gpufleet on a host."""
    from gpufleet import gpus

    table = {}
    for model in gpus.CATALOGUE:
        for name in (model.name, *model.aliases):
            table[gpus.normalise_name(name)] = (
                model.name,
                model.compute_capability,
                model.vram_mib,
            )
    return dict(sorted(table.items()))


def torch_arch_list(archs: Iterable[str]) -> list[str]:
    """What `torch.cuda.get_arch_list()` reports for a TORCH_CUDA_ARCH_LIST.

    >>> torch_arch_list(["7.5", "12.0+PTX"])
    ['sm_75', 'sm_120', 'compute_120']
    """
    targets = arch_targets(archs)
    sass = [a for kind, a in targets if kind == "elf"]
    return sass + [a.replace("sm_", "compute_") for kind, a in targets if kind == "ptx"]


def _source(directory: Path) -> dict[str, bytes]:
    files = tree_files(directory)
    return {p: d for p, d in files.items() if p not in _GENERATED and not p.endswith(".so")}


def build_torch_wheel(
    version: str,
    variant: str,
    archs: Iterable[str],
    tag: str,
    requires_python: str | None = None,
    local_label: bool = True,
) -> tuple[str, bytes]:
    """Stand-in torch `<version>+<variant>` (`local_label=False`: the PyPI file, whose name has
    no label though the build still reports `2.6.0+cu124`). Declares no dependencies."""
    archs = list(archs)
    build = f"{version}+{variant}"
    cuda = f"{variant[2:-1]}.{variant[-1]}"
    files = _source(TORCH_PKG / "torch")
    files = {f"torch/{p}": d for p, d in files.items()}
    files["torch/version.py"] = (
        f'__version__ = "{build}"\ncuda = "{cuda}"\nhip = None\n'
        f'git_version = "gpufleet-sandbox-standin"\n'
    ).encode()
    files["torch/_gpufleet_build.py"] = (
        "# Written by sandbox/standins/wheel_builder.py when this stand-in wheel was built.\n"
        f"ARCH_LIST = {torch_arch_list(archs)!r}\nGPUS = {gpu_table()!r}\n"
    ).encode()
    files["torch/lib/libtorch_cuda.so"] = fatbin(arch_targets(archs))
    wheel_version = build if local_label else version
    summary = f"torch {build} (sandbox stand-in; the real dependencies are not declared)"
    meta = metadata("torch", wheel_version, summary, requires_python=requires_python)
    return build_wheel("torch", wheel_version, tag, files, meta)


def vllm_archs(min_cc: str, cuda_sm: tuple[str, str]) -> list[str]:
    """Archs of an upstream vLLM build: its usual list from `min_cc` up, limited to what the
    variant's toolkit compiles (`cuda_sm` = (min, max) of matrix.yaml cuda_toolkits), the
    newest also as PTX.

    >>> vllm_archs("7.0", ("5.0", "9.0"))
    ['7.0', '7.5', '8.0', '8.6', '8.9', '9.0+PTX']
    """
    from packaging.version import Version

    usual = ("7.0", "7.5", "8.0", "8.6", "8.9", "9.0", "10.0", "12.0")
    low = max(Version(min_cc), Version(cuda_sm[0]))
    keep = [a for a in usual if low <= Version(a) <= Version(cuda_sm[1])]
    return [*keep[:-1], keep[-1] + "+PTX"] if keep else []


def build_vllm_wheel(
    version: str,
    torch_build: str,
    archs: Iterable[str],
    *,
    name: str = "vllm",
    xformers: str | None = None,
    requires_python: str | None = None,
    torch_pin: str | None = None,
    tag: str = "cp38-abi3-manylinux1_x86_64",
    wheel_version: str | None = None,
) -> tuple[str, bytes, bytes]:
    """A stand-in vLLM wheel: returns (file name, wheel bytes, METADATA bytes for PEP 658).

    `torch_build` is the torch build it was "compiled against" ("2.6.0+cu124"): importing it
    under any other build fails with the real undefined-symbol error. `archs` go into
    `vllm/_C.abi3.so` ("7.0", "9.0+PTX"). METADATA pins `torch==<torch_pin>` (default: the
    build's version) and `xformers==<xformers>` like the real release. `wheel_version` names a
    deliberately different build (e.g. "0.8.5.post1+gpufleetbroken").

    Example (a build whose kernels lack sm_70, for a check that must refuse it):
        >>> name, data, meta = build_vllm_wheel("0.8.5.post1+nosm70", "2.6.0+cu124", ["8.0"])
        >>> name
        'vllm-0.8.5.post1+nosm70-cp38-abi3-manylinux1_x86_64.whl'
    """
    wheel_version = wheel_version or version
    files = _source(VLLM_PKG / "vllm")
    files = {f"vllm/{p}": d for p, d in files.items()}
    files["vllm/_gpufleet_build.py"] = (
        "# Written by sandbox/standins/wheel_builder.py when this stand-in wheel was built.\n"
        f'VERSION = "{wheel_version}"\nTORCH_BUILD = "{torch_build}"\n'
    ).encode()
    files["vllm/_C.abi3.so"] = fatbin(arch_targets(archs))
    requires = [f"torch=={torch_pin or torch_build.split('+')[0]}"]
    if xformers:
        requires.append(
            f'xformers=={xformers}; platform_system == "Linux" and platform_machine == "x86_64"'
        )
    summary = f"{name} {wheel_version} built against torch {torch_build} (sandbox stand-in)"
    meta = metadata(name, wheel_version, summary, requires, requires_python)
    # The console script only once the stand-in server's CLI exists in vllm_pkg/.
    scripts = {"vllm": "vllm.cli:main"} if "vllm/cli.py" in files else None
    filename, data = build_wheel(name, wheel_version, tag, files, meta, scripts)
    return filename, data, meta


def build_xformers_wheel(
    version: str, torch_pin: str, archs: Iterable[str], tag: str
) -> tuple[str, bytes]:
    """A prebuilt xformers wheel whose `_C.so` lists the upstream wheel's archs."""
    files = {f"xformers/{p}": d for p, d in _source(XFORMERS_SDIST / "xformers").items()}
    files["xformers/version.py"] = f'__version__ = "{version}"\n'.encode()
    files["xformers/_C.so"] = fatbin(arch_targets(archs))
    meta = metadata("xformers", version, "xformers (sandbox stand-in)", [f"torch=={torch_pin}"])
    return build_wheel("xformers", version, tag, files, meta)


def build_xformers_sdist(version: str, torch_pin: str) -> tuple[str, bytes]:
    """`xformers-<version>.tar.gz`, whose setup.py "compiles" for TORCH_CUDA_ARCH_LIST."""
    files = _source(XFORMERS_SDIST)
    files = {p: d for p, d in files.items() if p != "xformers/version.py"}
    files["gpufleet_sdist_build.py"] = SDIST_BUILD.read_bytes()
    files["version.txt"] = f"{version}\n".encode()
    files["requirements.txt"] = f"torch=={torch_pin}\n".encode()
    pkg_info = metadata("xformers", version, "xformers (sandbox stand-in)", [f"torch=={torch_pin}"])
    return f"xformers-{version}.tar.gz", build_sdist("xformers", version, files, pkg_info)


def build_vllm_sdist(
    version: str,
    torch_pin: str,
    *,
    xformers: str | None = None,
    requires_python: str | None = None,
) -> tuple[str, bytes]:
    """`vllm-<version>.tar.gz`: vllm_sdist's setup.py, which "compiles" `vllm/_C.abi3.so` for
    TORCH_CUDA_ARCH_LIST with CUDA_HOME's nvcc against the env's torch, and the package files
    of the stand-in wheels (vllm_pkg/vllm/**). Its pyproject.toml names the real build-system
    requires (torch==`torch_pin`); its requirements pin torch and xformers like the wheels'.

        >>> name, data = build_vllm_sdist("0.10.0", "2.7.1", xformers="0.0.31")
        >>> name
        'vllm-0.10.0.tar.gz'
    """
    files = _source(VLLM_SDIST)
    files["gpufleet_sdist_build.py"] = SDIST_BUILD.read_bytes()
    files.update({f"vllm/{p}": d for p, d in _source(VLLM_PKG / "vllm").items()})
    requires = [f"torch=={torch_pin}"]
    if xformers:
        requires.append(
            f'xformers=={xformers}; platform_system == "Linux" and platform_machine == "x86_64"'
        )
    build_requires = ["cmake>=3.26.1", "ninja", "packaging>=24.2", "setuptools>=77.0.3"]
    build_requires += ["setuptools-scm>=8.0", f"torch=={torch_pin}", "wheel", "jinja2"]
    files["pyproject.toml"] = (
        "[build-system]\nrequires = [\n"
        + "".join(f'    "{r}",\n' for r in build_requires)
        + ']\nbuild-backend = "setuptools.build_meta"\n'
    ).encode()
    files["version.txt"] = f"{version}\n".encode()
    files["requirements.txt"] = "".join(f"{r}\n" for r in requires).encode()
    summary = "vllm (sandbox stand-in, built from source)"
    pkg_info = metadata("vllm", version, summary, requires, requires_python)
    return f"vllm-{version}.tar.gz", build_sdist("vllm", version, files, pkg_info)


def build_triton_wheel(name: str, version: str, tag: str) -> tuple[str, bytes]:
    """`triton` or the community `triton-pascal` (both install the `triton` module)."""
    init = (
        f'"""Stand-in {name} (sandbox only)."""\n\n__version__ = "{version}"\n'
        f"PASCAL_BUILD = {name == 'triton-pascal'}\n"
    )
    meta = metadata(name, version, f"{name} (sandbox stand-in)")
    return build_wheel(name, version, tag, {"triton/__init__.py": init.encode()}, meta)
