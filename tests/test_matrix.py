"""matrix.yaml parses, every row cites a source, and its tables agree with each other."""

import re

import pytest
import yaml
from packaging.version import Version

from gpufleet.matrix import MATRIX_PATH, MatrixError, cuda_of_variant, load


def test_every_hand_kept_row_has_a_source():
    raw = yaml.safe_load(MATRIX_PATH.read_text())
    for section, rows in raw.items():
        if isinstance(rows, list) and rows and isinstance(rows[0], dict):
            for row in rows:
                assert row.get("source"), f"{section}: {row} has no source"


def test_runfile_names_carry_their_version_and_bundled_driver():
    for toolkit in load().toolkits:
        assert toolkit.runfile == f"cuda_{toolkit.version}_{toolkit.min_driver}_linux.run"


def test_cuda_13_toolkits_cannot_compile_for_volta_or_pascal():
    for toolkit in load().toolkits:
        if Version(toolkit.version).major >= 13:
            assert not toolkit.compiles_for("7.0") and not toolkit.compiles_for("6.1")


def test_r580_is_the_newest_branch_that_drives_pascal_and_volta():
    drivers = load().drivers
    for cc in ("6.1", "7.0"):
        newest = max((d for d in drivers if d.drives(cc)), key=lambda d: Version(d.version))
        assert newest.branch == "580"


def test_torch_variants_have_real_cuda_names():
    for build in load().torch_builds:
        for variant in build.variants:
            assert re.fullmatch(r"cu\d{3}", variant)
            assert Version("11.0") <= cuda_of_variant(variant) < Version("14")


def test_vllm_wheel_variants_exist_as_torch_builds_for_some_release():
    matrix = load()
    for release in matrix.vllm_releases:
        wheels = matrix.vllm_wheels_for(release.version)
        build = matrix.torch_build(release.torch)
        assert wheels is not None, f"vLLM {release.version}: no vllm_wheels row"
        assert build is not None, f"vLLM {release.version}: torch {release.torch} unknown"
        assert wheels.pypi in build.variants, f"vLLM {release.version}: {wheels.pypi} missing"


@pytest.mark.parametrize(
    ("variant", "cuda"), [("cu118", "11.8"), ("cu124", "12.4"), ("cu130", "13.0")]
)
def test_cuda_of_variant(variant, cuda):
    assert cuda_of_variant(variant) == Version(cuda)


def test_a_row_without_source_is_refused(tmp_path):
    text = MATRIX_PATH.read_text().replace(
        "    source: bundled in cuda_12.4.1_550.54.15_linux.run (NVIDIA archive)\n", "", 1
    )
    path = tmp_path / "matrix.yaml"
    path.write_text(text)
    with pytest.raises(MatrixError, match=r"driver_branches\[3\]: bad or missing 'source'"):
        load(path)


def test_a_bad_specifier_is_refused(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text(MATRIX_PATH.read_text().replace('torch: ">=2.4,<2.5"', 'torch: "about 2.4"'))
    with pytest.raises(MatrixError, match=r"torch_builds\[0\]"):
        load(path)
