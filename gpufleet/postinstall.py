"""Post-install check of one gpufleet env: run with the env's own python, prints one JSON object.

Copied to each host (``<gpufleet_root>/lib/postinstall.py``) by tasks/stack.py and run as

    ENV/bin/python postinstall.py --torch 2.6.0 --torch-cuda cu124 --cc 7.0 \\
        --cuobjdump /usr/local/cuda-12.4/bin/cuobjdump \\
        [--triton-pascal] [--stamp ENV/.gpufleet-stamp.json --stamp-data JSON]

It checks what the notes' failures are made of: ``torch.__version__`` and ``torch.version.cuda``
are the stack's build; with a GPU (nvidia-smi answers) torch's arch list can run on it;
``import vllm`` works (an ABI mismatch shows as its undefined-symbol ImportError); and vLLM's and
xformers' compiled extensions carry SASS the GPU runs or PTX it can JIT (``cuobjdump
--list-elf --list-ptx``). Only when all pass, and ``--stamp`` is given, it writes the stamp
(``--stamp-data`` plus ``built_at`` and this result) atomically. Exit 0 when ok, 1 when not.

Stdlib only at import time: torch and vllm are imported inside the checks, so the parsing and
the decisions below are unit-tested without them.

    >>> parse_cuobjdump(["ELF file    1: _C.1.sm_70.cubin", "PTX file    1: _C.1.sm_80.ptx"])
    {'elf': ['sm_70'], 'ptx': ['sm_80']}
    >>> runnable_code({"elf": ["sm_60"], "ptx": []}, "6.1")
    'SASS sm_60'
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# cuobjdump --list-elf / --list-ptx, one line per embedded image:
#   "ELF file    1: _C.abi3.1.sm_70.cubin"   "PTX file    2: _C.abi3.2.sm_80.ptx"
_LIST_RE = re.compile(
    r"^(?P<kind>ELF|PTX) file\s+\d+:\s+\S*?\.(?P<sm>sm_\d+[a-z]?)\.(cubin|ptx)\s*$"
)
_SM_RE = re.compile(r"^(?:sm|compute)_(?P<digits>\d+)(?P<suffix>[a-z]?)$")
_PACKAGES = ("vllm", "xformers")  # whose compiled extensions must run on the GPU
# flash-attention kernels need sm_80+ by design: vLLM/xformers only dispatch to them there.
_OPTIONAL_MARK = "flash"
_PASCAL_PATCHED = ("_inductor/scheduler.py", "utils/_triton.py")


def parse_cuobjdump(lines: Iterable[str]) -> dict[str, list[str]]:
    """``{"elf": ["sm_70"], "ptx": ["sm_80"]}`` from cuobjdump's list output."""
    found: dict[str, list[str]] = {"elf": [], "ptx": []}
    for line in lines:
        match = _LIST_RE.match(line.strip())
        if match:
            found[match["kind"].lower()].append(match["sm"])
    return {kind: sorted(set(sms), key=_sm_key) for kind, sms in found.items()}


def sm_of(cc: str) -> str:
    """ "7.0" -> "sm_70", "12.0" -> "sm_120"."""
    major, minor = cc.split(".")
    return f"sm_{major}{minor}"


def _sm_key(sm: str) -> tuple[int, int, str]:
    match = _SM_RE.match(sm)
    if not match:
        raise ValueError(f"not an sm/compute target: {sm!r}")
    digits = match["digits"]
    return int(digits[:-1]), int(digits[-1]), match["suffix"]


def sass_runs(sass: str, cc: str) -> bool:
    """SASS runs on the same major at an equal or higher minor; "a" targets only on their own."""
    major, minor, suffix = _sm_key(sass)
    gpu_major, gpu_minor, _ = _sm_key(sm_of(cc))
    if suffix == "a":
        return (major, minor) == (gpu_major, gpu_minor)
    return major == gpu_major and minor <= gpu_minor


def ptx_runs(ptx: str, cc: str) -> bool:
    """PTX is JIT-compiled for any GPU at or above its target (not the arch-specific "a" ones)."""
    major, minor, suffix = _sm_key(ptx)
    gpu = _sm_key(sm_of(cc))[:2]
    return (major, minor) == gpu if suffix == "a" else (major, minor) <= gpu


def runnable_code(targets: dict[str, list[str]], cc: str) -> str | None:
    """What of ``targets`` the GPU runs: "SASS sm_70", "PTX sm_60 (JIT)", or None."""
    for sass in targets["elf"]:
        if sass_runs(sass, cc):
            return f"SASS {sass}"
    for ptx in targets["ptx"]:
        if ptx_runs(ptx, cc):
            return f"PTX {ptx} (JIT)"
    return None


def arch_list_runs(arch_list: Iterable[str], cc: str) -> bool:
    """torch.cuda.get_arch_list(): "sm_70" entries are SASS, "compute_70" entries PTX."""
    for arch in arch_list:
        if arch.startswith("sm_") and sass_runs(arch, cc):
            return True
        if arch.startswith("compute_") and ptx_runs("sm_" + arch[len("compute_") :], cc):
            return True
    return False


def torch_build_errors(version: str, cuda: str | None, want: str, want_cuda: str) -> list[str]:
    """``("2.6.0+cu124", "12.4")`` against ``("2.6.0", "cu124")``: [] or what differs."""
    errors = []
    if version != f"{want}+{want_cuda}":
        errors.append(f"torch {version} installed, stack needs {want}+{want_cuda}")
    if cuda is None or "cu" + cuda.replace(".", "") != want_cuda:
        errors.append(f"torch.version.cuda is {cuda}, stack needs {want_cuda}")
    return errors


def package_dir(name: str) -> Path | None:
    """Where ``name`` is installed (found without importing it), or None."""
    spec = importlib.util.find_spec(name)
    locations = spec.submodule_search_locations if spec else None
    return Path(next(iter(locations))) if locations else None


def extension_files(roots: Iterable[Path]) -> list[tuple[Path, bool]]:
    """(file, required) for each ``.so`` below each package dir; required = directly in the
    package dir and not a flash-attention module."""
    found = []
    for root in roots:
        for path in sorted(root.rglob("*.so")):
            required = path.parent == root and _OPTIONAL_MARK not in path.name
            found.append((path, required))
    return found


def check_extension(path: Path, site: Path, cuobjdump: str, cc: str, required: bool) -> dict:
    """One extension's device code and whether the GPU can run it (cuobjdump on the file)."""
    entry: dict[str, Any] = {"file": str(path.relative_to(site)), "required": required}
    try:
        run = subprocess.run(
            [cuobjdump, "--list-elf", "--list-ptx", str(path)],
            capture_output=True,
            text=True,
            timeout=300,
        )
    except OSError as exc:
        return {**entry, "error": f"cannot run {cuobjdump}: {exc}", "runs": None}
    targets = parse_cuobjdump(run.stdout.splitlines())
    entry.update(targets)
    if not targets["elf"] and not targets["ptx"]:
        return {**entry, "runs": None}  # no device code: nothing for the GPU to run
    entry["runs"] = runnable_code(targets, cc)
    return entry


def extension_errors(extensions: list[dict], cc: str) -> list[str]:
    errors = []
    for ext in extensions:
        if ext.get("error"):
            errors.append(f"{ext['file']}: {ext['error']}")
        elif ext["required"] and ext["runs"] is None and (ext["elf"] or ext["ptx"]):
            errors.append(
                f"{ext['file']} has no code for {sm_of(cc)}: SASS {ext['elf'] or '-'}, "
                f"PTX {ext['ptx'] or '-'} (needs SASS of the same major at or below, "
                "or PTX at or below)"
            )
    return errors


def smi_compute_caps() -> list[str] | None:
    """The GPUs' compute capabilities from nvidia-smi, None without a working driver."""
    try:
        run = subprocess.run(
            ["nvidia-smi", "--query-gpu=compute_cap", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    caps = [line.strip() for line in run.stdout.splitlines() if line.strip()]
    return caps if run.returncode == 0 and caps else None


def check_torch(args: argparse.Namespace, gpu_present: bool, cc: str) -> tuple[dict, list[str]]:
    try:
        import torch
    except Exception as exc:  # any import failure is the finding
        return {"import": f"{type(exc).__name__}: {exc}"}, [f"import torch failed: {exc}"]
    result = {"version": torch.__version__, "cuda": torch.version.cuda, "import": "ok"}
    errors = torch_build_errors(torch.__version__, torch.version.cuda, args.torch, args.torch_cuda)
    if gpu_present:
        arch_list = list(torch.cuda.get_arch_list())
        result["arch_list"] = arch_list
        if not arch_list_runs(arch_list, cc):
            errors.append(f"torch arch list {arch_list} has nothing {sm_of(cc)} runs")
    return result, errors


def check_vllm() -> tuple[dict, list[str]]:
    try:
        import vllm
    except Exception as exc:  # the ImportError text is the finding
        text = f"{type(exc).__name__}: {exc}"
        return {"import": text}, [f"import vllm failed: {text}"]
    return {"import": "ok", "version": getattr(vllm, "__version__", None)}, []


def pascal_patch_errors(torch_dir: Path) -> list[str]:
    """The triton-pascal swap and the inductor patch (`.major < 7` -> `< 6`) are in place."""
    from importlib import metadata

    errors = []
    for rel in _PASCAL_PATCHED:
        path = torch_dir / rel
        if not path.is_file():
            errors.append(f"torch/{rel} missing")
        elif ".major < 7" in path.read_text():
            errors.append(f"torch/{rel} still refuses Pascal (`.major < 7` unpatched)")
    for name, wanted in (("triton-pascal", True), ("triton", False)):
        try:
            metadata.distribution(name)
            present = True
        except metadata.PackageNotFoundError:
            present = False
        if present != wanted:
            errors.append(f"{name} {'missing' if wanted else 'still installed'}")
    return errors


def run_checks(args: argparse.Namespace) -> dict[str, Any]:
    caps = smi_compute_caps()
    # nvidia-smi's answer is the truth when a driver runs; else the GPU the plan was made for.
    cc = min(caps, key=lambda c: _sm_key(sm_of(c))) if caps else args.cc
    result: dict[str, Any] = {
        "gpu": {"cc": cc, "sm": sm_of(cc), "source": "nvidia-smi" if caps else "plan"}
    }
    result["torch"], errors = check_torch(args, caps is not None, cc)
    result["vllm"], vllm_errors = check_vllm()
    roots = [d for d in (package_dir(p) for p in _PACKAGES) if d is not None]
    exts = [
        check_extension(path, root.parent, args.cuobjdump, cc, required)
        for root in roots
        for path, required in extension_files([root])
    ]
    result["extensions"] = exts
    errors += vllm_errors + extension_errors(exts, cc)
    if not any(e["required"] for e in exts if e["file"].startswith("vllm/")):
        errors.append("no compiled vLLM extension found in site-packages/vllm")
    if args.triton_pascal:
        torch_dir = package_dir("torch")
        errors += pascal_patch_errors(torch_dir) if torch_dir else ["torch is not installed"]
    result["errors"] = errors
    result["ok"] = not errors
    return result


def write_stamp(path: Path, data: dict[str, Any], result: dict[str, Any]) -> None:
    """Write the stamp atomically: a reader sees the whole file or none."""
    now = time.time()
    stamp = {
        **data,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "built_at_epoch": int(now),
        "check": result,
    }
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as f:
        json.dump(stamp, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="gpufleet post-install check")
    parser.add_argument("--torch", required=True, help='torch version, e.g. "2.6.0"')
    parser.add_argument("--torch-cuda", required=True, help='CUDA variant, e.g. "cu124"')
    parser.add_argument("--cc", required=True, help='planned GPU compute capability, "7.0"')
    parser.add_argument("--cuobjdump", required=True, help="the stack toolkit's cuobjdump")
    parser.add_argument("--triton-pascal", action="store_true")
    parser.add_argument("--stamp", type=Path, help="write this stamp file when the check passes")
    parser.add_argument("--stamp-data", default="{}", help="JSON object to put in the stamp")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # torch and vllm may log to stdout: keep fd 1 for the one JSON object.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    result = run_checks(args)
    if result["ok"] and args.stamp:
        write_stamp(args.stamp, json.loads(args.stamp_data), result)
    out.write(json.dumps(result, sort_keys=True) + "\n")
    out.flush()
    if not result["ok"]:
        print("post-install check failed: " + "; ".join(result["errors"]), file=sys.stderr)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
