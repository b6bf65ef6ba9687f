"""gpufleet/postinstall.py: cuobjdump parsing, sm matching, and the whole check on stub packages.

The stub torch/vllm packages and the fake cuobjdump/nvidia-smi below are test stand-ins: they
print what the real tools print (the cuobjdump lines are the real `--list-elf`/`--list-ptx`
format), so the check's decisions run without a GPU or a 2 GB torch.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gpufleet import postinstall as pi

# cuobjdump --list-elf --list-ptx on a fatbinary-carrying .so (CUDA 12.x), as printed.
CUOBJDUMP_V100_BUILD = [
    "ELF file    1: _C.abi3.1.sm_70.cubin",
    "ELF file    2: _C.abi3.2.sm_75.cubin",
    "ELF file    3: _C.abi3.3.sm_80.cubin",
    "ELF file    4: _C.abi3.4.sm_90.cubin",
    "PTX file    1: _C.abi3.1.sm_90.ptx",
]
CUOBJDUMP_NO_DEVICE_CODE = ["cuobjdump info    : File '/x/_core.so' does not contain device code"]


def test_parse_cuobjdump_reads_the_real_list_format() -> None:
    assert pi.parse_cuobjdump(CUOBJDUMP_V100_BUILD) == {
        "elf": ["sm_70", "sm_75", "sm_80", "sm_90"],
        "ptx": ["sm_90"],
    }
    assert pi.parse_cuobjdump(CUOBJDUMP_NO_DEVICE_CODE) == {"elf": [], "ptx": []}


def test_parse_cuobjdump_orders_sm_100_after_sm_90_and_keeps_arch_specific_targets() -> None:
    lines = ["ELF file    1: x.1.sm_100.cubin", "ELF file    2: x.2.sm_90a.cubin"]
    assert pi.parse_cuobjdump(lines)["elf"] == ["sm_90a", "sm_100"]


@pytest.mark.parametrize(
    ("sass", "cc", "runs"),
    [
        ("sm_70", "7.0", True),
        ("sm_60", "6.1", True),  # P40 runs sm_60 SASS: same major, lower minor
        ("sm_61", "6.0", False),  # never a higher minor
        ("sm_70", "7.5", True),
        ("sm_75", "7.0", False),
        ("sm_80", "7.0", False),
        ("sm_70", "8.0", False),  # SASS never crosses a major
        ("sm_90a", "9.0", True),
        ("sm_90a", "10.0", False),
        ("sm_120", "12.0", True),
    ],
)
def test_sass_runs_on_the_same_major_at_or_below_the_gpus_minor(sass, cc, runs) -> None:
    assert pi.sass_runs(sass, cc) is runs


@pytest.mark.parametrize(
    ("ptx", "cc", "runs"),
    [
        ("sm_60", "7.0", True),
        ("sm_70", "7.0", True),
        ("sm_80", "7.0", False),
        ("sm_90a", "10.0", False),
    ],
)
def test_ptx_is_jit_compiled_at_or_above_its_target(ptx, cc, runs) -> None:
    assert pi.ptx_runs(ptx, cc) is runs


def test_runnable_code_prefers_sass_then_ptx_then_none() -> None:
    targets = pi.parse_cuobjdump(CUOBJDUMP_V100_BUILD)
    assert pi.runnable_code(targets, "7.0") == "SASS sm_70"
    assert pi.runnable_code(targets, "12.0") == "PTX sm_90 (JIT)"
    # a wheel "without sm_70 kernels" (xformers' 7.5;8.0+PTX) on a V100
    xformers = {"elf": ["sm_75", "sm_80"], "ptx": ["sm_80"]}
    assert pi.runnable_code(xformers, "7.0") is None
    assert pi.runnable_code(xformers, "6.1") is None


def test_arch_list_of_torch_wheels() -> None:
    cu128_271 = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]  # no Volta
    assert not pi.arch_list_runs(cu128_271, "7.0")
    assert pi.arch_list_runs(["sm_50", "sm_60", "sm_70", "sm_75", "sm_80"], "6.1")
    assert pi.arch_list_runs(["sm_80", "compute_80"], "9.0")
    assert not pi.arch_list_runs(["sm_80", "compute_80"], "7.0")


def test_torch_build_must_be_the_stacks_exact_build() -> None:
    assert pi.torch_build_errors("2.6.0+cu124", "12.4", "2.6.0", "cu124") == []
    errors = pi.torch_build_errors("2.6.0+cu126", "12.6", "2.6.0", "cu124")
    assert errors == [
        "torch 2.6.0+cu126 installed, stack needs 2.6.0+cu124",
        "torch.version.cuda is 12.6, stack needs cu124",
    ]
    assert pi.torch_build_errors("2.6.0", None, "2.6.0", "cu124")  # a CPU build


def test_extension_files_require_the_top_level_modules_not_flash_attention(tmp_path) -> None:
    root = tmp_path / "vllm"
    for rel in ("_C.abi3.so", "_moe_C.abi3.so", "vllm_flash_attn/_vllm_fa2_C.abi3.so"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("")
    (root / "_flashmla_C.abi3.so").write_text("")
    found = {str(p.relative_to(tmp_path)): req for p, req in pi.extension_files([root])}
    assert found == {
        "vllm/_C.abi3.so": True,
        "vllm/_moe_C.abi3.so": True,
        "vllm/_flashmla_C.abi3.so": False,
        "vllm/vllm_flash_attn/_vllm_fa2_C.abi3.so": False,
    }


# --- the whole check, run as on a host: ENV/bin/python postinstall.py ... ---

TORCH_STUB = """
__version__ = {version!r}
class version:
    cuda = {cuda!r}
class cuda:
    @staticmethod
    def get_arch_list():
        return {archs!r}
"""


def _site(tmp_path: Path, *, version="2.6.0+cu124", archs=("sm_70", "sm_80"), so="elf sm_70",
          vllm_init="__version__ = '0.8.5.post1'\n") -> Path:  # fmt: skip
    site = tmp_path / "site"
    (site / "torch").mkdir(parents=True)
    (site / "torch" / "__init__.py").write_text(
        TORCH_STUB.format(version=version, cuda="12.4", archs=list(archs))
    )
    (site / "vllm").mkdir()
    (site / "vllm" / "__init__.py").write_text(vllm_init)
    (site / "vllm" / "_C.abi3.so").write_text("FATBIN\n" + so + "\n")
    return site


def _tools(tmp_path: Path, gpu_cc: str | None) -> tuple[Path, Path]:
    """A fake cuobjdump (prints each `elf/ptx sm_XY` line of the file in cuobjdump's format)
    and, when `gpu_cc`, a fake nvidia-smi answering the compute_cap query."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cuobjdump = bin_dir / "cuobjdump"
    cuobjdump.write_text(
        f"#!{sys.executable}\n"
        "import sys, pathlib\n"
        "path = pathlib.Path(sys.argv[-1]); stem = path.name.split('.')[0]\n"
        "for n, line in enumerate(path.read_text().split('\\n')[1:], 1):\n"
        "    if not line: continue\n"
        "    kind, sm = line.split()\n"
        "    ext = 'cubin' if kind == 'elf' else 'ptx'\n"
        "    print(f'{kind.upper()} file    {n}: {stem}.{n}.{sm}.{ext}')\n"
    )
    if gpu_cc:
        (bin_dir / "nvidia-smi").write_text(f"#!/bin/sh\necho {gpu_cc}\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    return bin_dir, cuobjdump


def _run(tmp_path: Path, site: Path, gpu_cc: str | None = None, cc: str = "7.0"):
    bin_dir, cuobjdump = _tools(tmp_path, gpu_cc)
    stamp = tmp_path / "env" / ".gpufleet-stamp.json"
    stamp.parent.mkdir()
    args = ["--torch", "2.6.0", "--torch-cuda", "cu124", "--cc", cc, "--cuobjdump", str(cuobjdump)]
    args += ["--stamp", str(stamp), "--stamp-data", json.dumps({"env": "e1"})]
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "PYTHONPATH": str(site), "PYTHONNOUSERSITE": "1"}
    run = subprocess.run(
        [sys.executable, "-S", pi.__file__, *args], capture_output=True, text=True, env=env
    )
    return run, json.loads(run.stdout), stamp


def test_check_passes_and_writes_the_stamp_with_its_result(tmp_path) -> None:
    run, result, stamp = _run(tmp_path, _site(tmp_path), gpu_cc="7.0")
    assert run.returncode == 0, run.stderr
    assert result["ok"] and result["gpu"] == {"cc": "7.0", "sm": "sm_70", "source": "nvidia-smi"}
    assert result["torch"]["arch_list"] == ["sm_70", "sm_80"]
    extension = {"file": "vllm/_C.abi3.so", "required": True, "elf": ["sm_70"], "ptx": []}
    assert result["extensions"] == [{**extension, "runs": "SASS sm_70"}]
    saved = json.loads(stamp.read_text())
    assert saved["env"] == "e1" and saved["check"] == result and saved["built_at_epoch"] > 0


def test_extension_without_code_for_the_gpu_fails_and_writes_no_stamp(tmp_path) -> None:
    site = _site(tmp_path, so="elf sm_75\nelf sm_80\nptx sm_80")  # xformers-style 7.5;8.0+PTX
    run, result, stamp = _run(tmp_path, site)  # no nvidia-smi: the planned cc is used
    assert run.returncode == 1
    assert result["gpu"]["source"] == "plan"
    assert result["errors"] == [
        "vllm/_C.abi3.so has no code for sm_70: SASS ['sm_75', 'sm_80'], PTX ['sm_80'] "
        "(needs SASS of the same major at or below, or PTX at or below)"
    ]
    assert not stamp.exists()
    assert "post-install check failed: vllm/_C.abi3.so has no code for sm_70" in run.stderr


def test_import_error_text_is_captured(tmp_path) -> None:
    symbol = "_ZN5torch3jit17parseSchemaOrNameERKSsb"
    init = f"raise ImportError('vllm/_C.abi3.so: undefined symbol: {symbol}')\n"
    run, result, stamp = _run(tmp_path, _site(tmp_path, vllm_init=init))
    assert run.returncode == 1 and not stamp.exists()
    assert result["vllm"]["import"] == f"ImportError: vllm/_C.abi3.so: undefined symbol: {symbol}"


def test_other_torch_build_and_arch_list_without_the_gpu_fail(tmp_path) -> None:
    site = _site(tmp_path, version="2.6.0+cu126", archs=["sm_75", "sm_80"])
    run, result, _ = _run(tmp_path, site, gpu_cc="7.0")
    assert run.returncode == 1
    assert "torch 2.6.0+cu126 installed, stack needs 2.6.0+cu124" in result["errors"]
    assert "torch arch list ['sm_75', 'sm_80'] has nothing sm_70 runs" in result["errors"]


def test_stdout_is_one_json_object_even_when_imports_print(tmp_path) -> None:
    init = "print('INFO vllm banner on stdout')\n__version__ = '0.8.5.post1'\n"
    run, result, _ = _run(tmp_path, _site(tmp_path, vllm_init=init))
    assert run.returncode == 0 and result["ok"]
    assert "vllm banner" in run.stderr and run.stdout.count("\n") == 1
