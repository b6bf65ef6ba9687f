"""The NVIDIA stand-ins (sandbox/standins/nvidia.py): one per matrix row, checksums that match,
and tools whose output the real parsers (gpufleet.facts) and the cuobjdump contract accept."""

import hashlib
import subprocess

import pytest

from gpufleet.facts.cuda import NvccVersion
from gpufleet.facts.nvidia import GpuProcesses, NvidiaGpus
from gpufleet.matrix import load
from sandbox.standins import nvidia


@pytest.fixture(scope="module")
def files():
    return nvidia.files()


def _tool(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text + "\n")
    path.chmod(0o755)
    return path


def test_a_runfile_and_checksum_per_matrix_row(files):
    matrix = load()
    names = {url.rsplit("/", 1)[1] for url in files}
    for branch in matrix.drivers:
        assert f"NVIDIA-Linux-x86_64-{branch.version}.run" in names
    for toolkit in matrix.toolkits:
        assert toolkit.runfile in names
    for url in files:
        for suffix in (".sha256sum", ".sha256"):
            if url.endswith(suffix):
                digest, name = files[url].decode().split()
                runfile = url[: -len(suffix)]
                assert name == runfile.rsplit("/", 1)[1]
                assert digest == hashlib.sha256(files[runfile]).hexdigest()


def test_runfiles_are_valid_bash(files):
    for url, body in files.items():
        if url.endswith(".run"):
            assert subprocess.run(["bash", "-n"], input=body).returncode == 0, url


def test_driver_runfile_rejects_unknown_and_too_new_flags(tmp_path):
    branches = {b.branch: b for b in load().drivers}
    run580 = _tool(tmp_path, "new.run", nvidia.driver_runfile(branches["580"]))
    bad = subprocess.run([run580, "--silent", "--bogus"], capture_output=True, text=True)
    assert bad.returncode == 1 and 'Unrecognized option: "--bogus"' in bad.stderr
    run550 = _tool(tmp_path, "old.run", nvidia.driver_runfile(branches["550"]))
    old = subprocess.run([run550, "--kernel-module-type=proprietary"], capture_output=True)
    assert old.returncode == 1 and b"--kernel-module-type" in old.stderr


def test_cuobjdump_contract(tmp_path):
    cuobjdump = _tool(tmp_path, "cuobjdump", nvidia._fill("cuobjdump.sh"))
    fatbin = tmp_path / "libx.so"
    fatbin.write_text("GPUFLEET-STANDIN-FATBIN\nelf sm_70\nptx sm_80\nelf sm_61\n")
    plain = tmp_path / "plain.so"
    plain.write_bytes(b"\x7fELF not a fatbin")
    out = subprocess.run(
        [cuobjdump, "--list-elf", "--list-ptx", fatbin, plain], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert out.stdout.splitlines() == [
        "ELF file    1: libx.so.1.sm_70.cubin",
        "ELF file    2: libx.so.2.sm_61.cubin",
        "PTX file    1: libx.so.1.sm_80.ptx",
        f"cuobjdump info    : File '{plain}' does not contain device code",
    ]


def test_nvcc_version_and_compile(tmp_path):
    toolkit = next(t for t in load().toolkits if t.short == "12.4")
    script = nvidia.cuda_runfile(toolkit).split("<<'NVCC_EOF'\n", 1)[1].split("\nNVCC_EOF", 1)[0]
    nvcc = _tool(tmp_path, "nvcc", script)
    version = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
    assert NvccVersion().process(version.splitlines()) == {
        "release": "12.4",
        "version": "12.4.131",
    }
    out = tmp_path / "k.o"
    gencode = ["-gencode", "arch=compute_70,code=sm_70"]
    assert subprocess.run([nvcc, *gencode, "-o", out, "k.cu"]).returncode == 0
    assert out.read_text() == "GPUFLEET-STANDIN-FATBIN\nelf sm_70\n"
    too_new = subprocess.run([nvcc, "-arch=sm_100", "-o", out], capture_output=True, text=True)
    assert (
        too_new.returncode == 1 and "Unsupported gpu architecture 'compute_100'" in too_new.stderr
    )


def _r580_nvidia_smi(tmp_path):
    """The R580 driver stand-in's nvidia-smi, written into tmp_path: (branch, path)."""
    branch = load().driver_branch("580")
    script = nvidia._fill(
        "nvidia-smi.sh", VERSION=branch.version, CUDA=branch.cuda, TABLE=nvidia.gpu_table()
    )
    return branch, _tool(tmp_path, "nvidia-smi", script)


@pytest.mark.parametrize(
    ("model", "flavour", "cc"),
    [("Tesla P40", "proprietary", "6.1"), ("Tesla V100-SXM2-32GB", "proprietary", "7.0")],
)
def test_nvidia_smi_reports_the_host_gpu(tmp_path, model, flavour, cc):
    branch, smi = _r580_nvidia_smi(tmp_path)
    (tmp_path / "gpu").write_text(model + "\n")
    (tmp_path / "gpu_count").write_text("2\n")
    (tmp_path / "nvidia-module").write_text(flavour + "\n")
    env = {"GPUFLEET_SANDBOX_ETC": str(tmp_path), "GPUFLEET_SANDBOX_STATE": str(tmp_path)}
    query = NvidiaGpus().command().split(" ", 1)[1].split()
    out = subprocess.run([smi, *query], capture_output=True, text=True, env=env)
    gpus = NvidiaGpus().process(out.stdout.splitlines())
    assert [(g["index"], g["name"], g["compute_capability"]) for g in gpus] == [
        (0, model, cc),
        (1, model, cc),
    ]
    assert {g["driver_version"] for g in gpus} == {branch.version}
    apps = subprocess.run(
        [smi, *GpuProcesses().command().split(" ", 1)[1].split()], capture_output=True, env=env
    )
    assert apps.returncode == 0 and apps.stdout == b""  # idle: nothing, like the real tool
    table = subprocess.run([smi], capture_output=True, text=True, env=env).stdout.splitlines()
    assert f"Driver Version: {branch.version}" in table[2]
    assert all(len(line) == 91 for line in table[1:] if line.startswith(("|", "+")))


def test_open_module_on_a_pre_turing_gpu_finds_no_devices(tmp_path):
    _, smi = _r580_nvidia_smi(tmp_path)
    (tmp_path / "gpu").write_text("Tesla P40\n")
    (tmp_path / "nvidia-module").write_text("open\n")
    env = {"GPUFLEET_SANDBOX_ETC": str(tmp_path), "GPUFLEET_SANDBOX_STATE": str(tmp_path)}
    out = subprocess.run([smi], capture_output=True, text=True, env=env)
    assert (out.returncode, out.stdout) == (6, "No devices were found\n")
