"""The Python-stack stand-ins (sandbox/standins/wheels.py): what pip, `matrix refresh` and the
post-install check will see of them, checked against gpufleet/matrix.yaml."""

import ast
import email
import io
import json
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
import yaml

from gpufleet import matrix, refresh
from sandbox import mirror
from sandbox.standins import wheel_builder as wb
from sandbox.standins import wheels

REPO = Path(__file__).resolve().parents[2]
M = matrix.load()
RAW = yaml.safe_load(matrix.MATRIX_PATH.read_text())["vllm_releases"]
VLLM_0_8_5 = "simple/vllm/vllm-0.8.5.post1-cp38-abi3-manylinux1_x86_64.whl"
TORCH_TAG = "cp311-cp311-manylinux_2_28_x86_64"


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mirror")
    assert wheels.populate(root)["changed"] is True
    return root


def _metadata(whl: Path) -> email.message.Message:
    with zipfile.ZipFile(whl) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return email.message_from_bytes(zf.read(name))


def _install(target: Path, *wheels_: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index"]
    subprocess.run([*cmd, "--target", str(target), *map(str, wheels_)], check=True)


def _python(target: Path, code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(target)}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_populate_is_a_no_op_when_nothing_changed(tree):
    again = wheels.populate(tree)
    assert again["changed"] is False and again["files"] > 300
    (tree / VLLM_0_8_5).unlink()  # a lost file is noticed and rewritten
    assert wheels.populate(tree)["changed"] is True and (tree / VLLM_0_8_5).is_file()


def test_every_release_pins_torch_and_xformers_like_the_matrix(tree):
    for r in M.vllm_releases:
        whl = next((tree / "simple" / "vllm").glob(f"vllm-{r.version}-cp38-abi3-*.whl"))
        meta = _metadata(whl)
        assert refresh.exact_pin(meta, "torch") == r.torch, r.version
        assert refresh.exact_pin(meta, "xformers") == r.xformers, r.version
        assert meta["Requires-Python"] == r.requires_python, r.version


def test_pep658_metadata_exactly_where_the_real_index_has_it(tree):
    with_file = {p.name.split("-")[1] for p in (tree / "simple" / "vllm").glob("*.metadata")}
    assert with_file == {v for v, row in RAW.items() if row["metadata"] == "pep658"}
    assert "0.8.5.post1" not in with_file and "0.8.5" in with_file
    meta = tree / "simple/vllm/vllm-0.8.5-cp38-abi3-manylinux1_x86_64.whl.metadata"
    assert b"Requires-Dist: torch==2.6.0\n" in meta.read_bytes()


def test_matrix_refresh_check_passes_against_the_tree(tree):
    server = mirror.Server(tree, "127.0.0.1", 0, log=None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.port}/simple"
        releases = refresh.fetch_releases(url)
        assert {r.metadata for r in releases} == {"pep658", "wheel"}  # both paths ran
        out = io.StringIO()
        assert refresh.refresh(matrix.MATRIX_PATH, url, check=True, out=out) == 0, out.getvalue()
    finally:
        server.shutdown()


def test_torch_variants_for_every_pinned_torch(tree):
    for torch in {r.torch for r in M.vllm_releases if r.torch}:
        for variant in M.torch_build(torch).variants:
            name = f"torch-{torch}+{variant}-cp311-cp311-"
            assert list((tree / "whl" / variant / "torch").glob(name + "*.whl")), name


def test_github_and_pascal_wheels(tree):
    for r in M.vllm_releases:
        w = M.vllm_wheels_for(r.version)
        for cu in w.github:
            url = wheels.upstream_urls()["vllm_release_wheel_url"]
            path = mirror.path_for_url(
                url.format(version=r.version, cuda=cu, platform=w.github_platform), tree
            )
            assert path.is_file() and _metadata(path)["Version"] == f"{r.version}+{cu}"
    pascal = (
        tree / "pascal/simple/vllm-pascal/vllm_pascal-0.8.5.post1-cp38-abi3-manylinux1_x86_64.whl"
    )
    with zipfile.ZipFile(pascal) as zf:
        assert zf.read("vllm/_C.abi3.so") == b"GPUFLEET-STANDIN-FATBIN\nelf sm_60\nelf sm_61\n"
        assert b'TORCH_BUILD = "2.6.0+cu124"' in zf.read("vllm/_gpufleet_build.py")
    assert list((tree / "pascal/simple/triton-pascal").glob("triton_pascal-3.2.0-cp311-*.whl"))


def test_pascal_path_is_the_sandbox_inventorys():
    source = (REPO / "inventories" / "sandbox.py").read_text()
    assigned = {
        node.targets[0].id: node.value.value
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant)
    }
    assert assigned["_PASCAL_INDEX_PATH"] == wheels.PASCAL_INDEX_PATH


def test_torch_and_vllm_install_and_import(tree, tmp_path):
    torch = tree / f"whl/cu124/torch/torch-2.6.0+cu124-{TORCH_TAG}.whl"
    _install(tmp_path, torch, tree / VLLM_0_8_5)
    gpu, smi = tmp_path / "gpu", tmp_path / "nvidia-smi"
    gpu.write_text("Tesla V100-SXM2-32GB\n")
    smi.write_text("#!/bin/sh\nexit 0\n")
    smi.chmod(0o755)
    code = (
        "import json, torch, vllm; import torch.cuda as c\n"
        "before = c.is_available()\n"
        f"c.GPU_FILE, c.NVIDIA_SMI = {str(gpu)!r}, {str(smi)!r}\n"
        "print(json.dumps([before, torch.__version__, torch.version.cuda, vllm.__version__,"
        " c.is_available(), c.get_device_capability(), c.get_arch_list()]))"
    )
    result = _python(tmp_path, code)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        False, "2.6.0+cu124", "12.4", "0.8.5.post1", True, [7, 0],
        ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"],
    ]  # fmt: skip
    patched = (tmp_path / "torch/_inductor/scheduler.py").read_text()
    assert "if device_props.major < 7:" in patched
    assert ".major >= 7" in (tmp_path / "torch/utils/_triton.py").read_text()


def test_vllm_under_another_torch_build_fails_like_the_real_one(tree, tmp_path):
    torch = tree / f"whl/cu126/torch/torch-2.6.0+cu126-{TORCH_TAG}.whl"
    _install(tmp_path, torch, tree / VLLM_0_8_5)
    result = _python(tmp_path, "import vllm")
    assert result.returncode != 0
    so = tmp_path / "vllm" / "_C.abi3.so"
    assert f"ImportError: {so}: undefined symbol: _ZN5torch3jit17parseSchemaOrNameERKSsb" in (
        result.stderr
    )


def test_cu128_torch_lists_ptx_and_no_volta(tree):
    whl = tree / f"whl/cu128/torch/torch-2.7.1+cu128-{TORCH_TAG}.whl"
    with zipfile.ZipFile(whl) as zf:
        build = zf.read("torch/_gpufleet_build.py").decode()
        fat = zf.read("torch/lib/libtorch_cuda.so").decode().splitlines()
    assert (
        "ARCH_LIST = ['sm_75', 'sm_80', 'sm_86', 'sm_90', 'sm_100', 'sm_120', 'compute_120']"
        in build
    )
    assert fat[0] == wb.FATBIN_MAGIC and "elf sm_70" not in fat and fat[-1] == "ptx sm_120"


def test_build_vllm_wheel_for_a_broken_variant(tmp_path):
    name, data, meta = wb.build_vllm_wheel(
        "0.8.5.post1", "2.6.0+cu124", ["8.0", "9.0+PTX"], wheel_version="0.8.5.post1+nosm70"
    )
    assert name == "vllm-0.8.5.post1+nosm70-cp38-abi3-manylinux1_x86_64.whl"
    (tmp_path / name).write_bytes(data)
    with zipfile.ZipFile(tmp_path / name) as zf:
        assert zf.read("vllm/_C.abi3.so").decode().splitlines()[1:] == [
            "elf sm_80", "elf sm_90", "ptx sm_90",
        ]  # fmt: skip
        record = zf.read("vllm-0.8.5.post1+nosm70.dist-info/RECORD").decode()
    assert "vllm/_C.abi3.so,sha256=" in record
    assert b"Requires-Dist: torch==2.6.0" in meta


def test_xformers_wheel_archs_follow_the_matrix(tree):
    whl = next((tree / "simple/xformers").glob("xformers-0.0.31-cp311-*.whl"))
    with zipfile.ZipFile(whl) as zf:
        assert zf.read("xformers/_C.so").decode().split("\n")[1:-1] == [
            "elf sm_75", "elf sm_80", "ptx sm_80",
        ]  # fmt: skip
    assert _metadata(whl).get_all("Requires-Dist") == ["torch==2.7.1"]


def _build_sdist(tree: Path, out: Path, env: dict) -> subprocess.CompletedProcess:
    sdist = tree / "simple/xformers/xformers-0.0.29.post2.tar.gz"
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index", "-w", str(out)]
    cmd += ["--find-links", str(wheels.PYPI_CACHE), str(sdist)]  # build isolation, offline
    return subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True)


def test_xformers_sdist_builds_for_torch_cuda_arch_list(tree, tmp_path):
    cuda = tmp_path / "cuda-12.4"
    (cuda / "bin").mkdir(parents=True)
    nvcc = cuda / "bin" / "nvcc"
    nvcc.write_text("#!/bin/sh\necho 'Cuda compilation tools, release 12.4, V12.4.131'\n")
    nvcc.chmod(0o755)
    env = {"CUDA_HOME": str(cuda), "TORCH_CUDA_ARCH_LIST": "7.0;6.1+PTX"}
    result = _build_sdist(tree, tmp_path / "out", env)
    assert result.returncode == 0, result.stdout + result.stderr
    built = next((tmp_path / "out").glob("xformers-0.0.29.post2-*.whl"))
    assert "-linux_x86_64" in built.name
    with zipfile.ZipFile(built) as zf:
        assert zf.read("xformers/_C.so").decode().splitlines() == [
            wb.FATBIN_MAGIC, "elf sm_70", "elf sm_61", "ptx sm_61",
        ]  # fmt: skip
    missing = _build_sdist(tree, tmp_path / "out2", {**env, "CUDA_HOME": str(tmp_path / "none")})
    assert missing.returncode != 0
    assert f"{tmp_path}/none/bin/nvcc not found" in missing.stdout + missing.stderr
