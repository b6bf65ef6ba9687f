"""gpufleet.refresh (`gpufleet matrix refresh`) against the local stand-in index; no internet."""

from __future__ import annotations

import io
from email.message import Message
from pathlib import Path

import pytest
from packaging.version import Version

from gpufleet.index import IndexFile
from gpufleet.refresh import (
    BEGIN,
    END,
    Release,
    exact_pin,
    main,
    refresh,
    render_block,
    replace_block,
    select_wheels,
)
from tests.indexserver import IndexServer

XF = 'xformers==0.0.29.post2; platform_system == "Linux" and platform_machine == "x86_64"'
HEAD = '# hand-kept\ndriver_branches:\n  - branch: "580"   # odd  spacing kept\n\n'
TAIL = "\n# after the block\ncuda: {}\n"


@pytest.fixture
def server():
    with IndexServer() as srv:
        srv.add_wheel("vllm", "0.5.4", ["torch==2.3.1"], pep658=True)  # before 0.6.0: left out
        srv.add_wheel("vllm", "0.8.5.post1", ["torch==2.6.0", XF], pep658=False, padding=300_000)
        srv.add_wheel("vllm", "0.9.0", ["torch==2.7.0", "xformers==0.0.30"], pep658=True)
        srv.add_wheel("vllm", "0.9.0", ["torch==2.7.0"], pep658=True, tag="cp38-abi3-linux_aarch64")
        srv.add_wheel("vllm", "0.10.0rc1", ["torch==2.7.1"], pep658=True)  # pre-release: out
        srv.add_wheel("vllm", "0.6.3", ["torch==2.4.0"], pep658=True, yanked="bad build")
        yield srv


def _matrix(tmp_path: Path, text: str = HEAD + f"{BEGIN}\nvllm_releases: {{}}\n{END}\n" + TAIL):
    path = tmp_path / "matrix.yaml"
    path.write_bytes(text.encode())
    return path


def test_refresh_writes_block_and_keeps_the_rest(server, tmp_path):
    path = _matrix(tmp_path)
    out = io.StringIO()
    assert refresh(path, server.index_url, out=out) == 0
    text = path.read_text()
    assert text.startswith(HEAD) and text.endswith(TAIL)
    rows = [line for line in text.splitlines() if line.startswith('  "')]
    assert rows == [
        '  "0.6.3": {torch: "2.4.0", xformers: null, requires_python: ">=3.9", '
        "metadata: pep658, yanked: true}",
        '  "0.8.5.post1": {torch: "2.6.0", xformers: "0.0.29.post2", requires_python: ">=3.9", '
        "metadata: wheel}",
        '  "0.9.0": {torch: "2.7.0", xformers: "0.0.30", requires_python: ">=3.9", '
        "metadata: pep658}",
    ]
    assert '+  "0.9.0"' in out.getvalue()  # the diff was printed
    wheel = "/files/vllm-0.8.5.post1-cp38-abi3-manylinux1_x86_64.whl"
    assert 0 < server.bytes_served[wheel] < len(server.blobs[wheel]) // 2


def test_check_exit_codes(server, tmp_path):
    path = _matrix(tmp_path)
    before = path.read_bytes()
    assert refresh(path, server.index_url, check=True, out=io.StringIO()) == 1
    assert path.read_bytes() == before  # --check never writes
    assert refresh(path, server.index_url, out=io.StringIO()) == 0
    out = io.StringIO()
    assert refresh(path, server.index_url, check=True, out=out) == 0
    assert "up to date" in out.getvalue()
    server.add_wheel("vllm", "0.9.1", ["torch==2.7.0"], pep658=False)  # a new release appears
    assert refresh(path, server.index_url, check=True, out=io.StringIO()) == 1


def test_main_creates_missing_file(server, tmp_path, capsys):
    path = tmp_path / "new.yaml"
    assert main(["--index-url", server.index_url, "--matrix", str(path)]) == 0
    text = path.read_text()
    assert text.startswith(BEGIN + "\n") and text.endswith(END + "\n")
    assert main(["--check", "--index-url", server.index_url, "--matrix", str(path)]) == 0
    assert "up to date" in capsys.readouterr().out


def test_main_reports_unreachable_index(tmp_path, capsys):
    with IndexServer() as srv:
        url = srv.index_url
    assert main(["--index-url", url, "--matrix", str(tmp_path / "m.yaml")]) == 2
    assert url in capsys.readouterr().err


def test_replace_block_round_trip():
    old = HEAD + f"{BEGIN}\nvllm_releases: {{}}\n{END}\n" + TAIL
    block = render_block([Release(Version("0.9.0"), "2.7.0", "0.0.30", ">=3.9", "pep658")])
    new = replace_block(old, block)
    assert new == HEAD + block + TAIL
    assert replace_block(new, block) == new
    assert replace_block("a: 1\n", block) == "a: 1\n\n" + block
    assert replace_block("", block) == block
    with pytest.raises(ValueError, match="marker"):
        replace_block(f"{BEGIN}\nno end\n", block)


def test_render_block_sorts_by_version_and_handles_missing_pins():
    releases = [
        Release(Version("0.10.0"), "2.7.1", None, None, "wheel"),
        Release(Version("0.9.2"), None, "0.0.30", "<3.13,>=3.9", "pep658"),
    ]
    lines = render_block(releases).splitlines()
    assert lines[0] == BEGIN and lines[-1] == END
    assert lines[-3].startswith('  "0.9.2": {torch: null, xformers: "0.0.30"')
    assert lines[-2] == (
        '  "0.10.0": {torch: "2.7.1", xformers: null, requires_python: null, metadata: wheel}'
    )
    assert render_block([]).splitlines()[-2] == "vllm_releases: {}"


def test_select_wheels_filters_and_prefers_highest_build():
    names = [
        "vllm-0.20.1-cp38-abi3-manylinux_2_35_x86_64.whl",
        "vllm-0.20.1-1-cp38-abi3-manylinux_2_35_x86_64.whl",
        "vllm-0.20.1-1-cp38-abi3-manylinux_2_35_aarch64.whl",
        "vllm-0.20.1.tar.gz",
        "vllm-0.11.0rc2-cp38-abi3-manylinux1_x86_64.whl",
        "vllm-0.11.0.dev1-cp38-abi3-manylinux1_x86_64.whl",
        "vllm-0.5.5-cp38-abi3-manylinux1_x86_64.whl",
        "vllm-0.6.1.post2-cp38-abi3-manylinux1_x86_64.whl",
        "not a wheel name.whl",
    ]
    chosen = select_wheels(IndexFile(n, f"http://x/{n}") for n in names)
    assert [str(v) for v in chosen] == ["0.6.1.post2", "0.20.1"]
    assert chosen[Version("0.20.1")].filename.startswith("vllm-0.20.1-1-")


def test_exact_pin_reads_linux_x86_64_pins_only():
    msg = Message()
    for line in [
        "torch==2.6.0",
        'torch==9.9; platform_machine == "aarch64"',
        XF,
        'tensorizer==2.9; extra == "tensorizer"',
        "torchvision>=0.21",
    ]:
        msg["Requires-Dist"] = line
    assert exact_pin(msg, "torch") == "2.6.0"
    assert exact_pin(msg, "xformers") == "0.0.29.post2"
    assert exact_pin(msg, "tensorizer") is None  # only with an extra
    assert exact_pin(msg, "torchvision") is None  # not an exact pin
