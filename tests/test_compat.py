"""The solver against the lab notes' cases and, exhaustively, against its own invariants."""

import pytest
from packaging.version import Version

from gpufleet.compat import IncompatibleStack, Pins, Stack, resolve, runs_on
from gpufleet.gpus import CATALOGUE, GpuModel, lookup
from gpufleet.matrix import cc_version, cuda_of_variant, load

V100 = lookup("Tesla V100-SXM2-32GB")
P40 = lookup("Tesla P40")
H100 = lookup("NVIDIA H100 80GB HBM3")


def test_v100_with_vllm_0_8_5_post1_gets_torch_2_6_0_cu124():
    stack = resolve(V100, pins=Pins(vllm="0.8.5.post1"))
    assert (stack.torch, stack.torch_cuda, stack.vllm_source) == ("2.6.0", "cu124", "pypi")
    assert stack.xformers == "0.0.29.post2"
    assert stack.env_name == "vllm-0.8.5.post1-torch-2.6.0-cu124"


def test_v100_with_vllm_0_8_5_post1_never_gets_cu126():
    with pytest.raises(IncompatibleStack) as refused:
        resolve(V100, pins=Pins(vllm="0.8.5.post1", torch="2.6.0+cu126"))
    assert refused.value.rule == "exact-torch-build"
    assert "13608" in refused.value.source


def test_v100_with_torch_2_7_1_cu128_is_refused_by_the_arch_rule():
    with pytest.raises(IncompatibleStack) as refused:
        resolve(V100, pins=Pins(torch="2.7.1+cu128"))
    assert refused.value.rule == "torch-arch"
    assert "sm_70" in str(refused.value)
    assert "#147607" in refused.value.source


def test_v100_with_torch_2_7_1_has_no_official_wheel_but_can_build_one():
    with pytest.raises(IncompatibleStack) as refused:
        resolve(V100, pins=Pins(torch="2.7.1"))
    assert refused.value.rule == "torch-arch"
    stack = resolve(V100, pins=Pins(torch="2.7.1", allow_source_build=True))
    assert (stack.torch, stack.vllm_source) == ("2.7.1", "source-build")
    assert runs_on("7.0", load().torch_build("2.7.1").variants[stack.torch_cuda])


@pytest.mark.parametrize("release", [r for r in load().vllm_releases if r.torch])
def test_vllm_0_9_and_newer_needs_torch_2_7_or_newer(release):
    if Version(release.version) >= Version("0.9.0"):
        assert Version(release.torch) >= Version("2.7.0")


def test_vllm_0_9_0_pins_torch_2_7_0_and_xformers_0_0_30():
    release = load().vllm_release("0.9.0")
    assert (release.torch, release.xformers) == ("2.7.0", "0.0.30")


def test_p40_never_gets_an_official_vllm_wheel():
    for release in load().vllm_releases:
        try:
            stack = resolve(P40, pins=Pins(vllm=release.version))
        except IncompatibleStack as refused:
            assert refused.rule
            continue
        assert stack.vllm_source == "pascal-index"


def test_p40_gets_float32_and_the_proprietary_r580_driver():
    stack = resolve(P40)
    assert stack.dtype == "float32"
    assert stack.driver_branch == "580"
    assert stack.driver_module == "proprietary"
    assert Version(stack.cuda_toolkit) < Version("13")
    assert stack.xformers_build or stack.xformers is None


def test_p40_pinned_to_an_upstream_only_release_names_the_min_cc_rule():
    with pytest.raises(IncompatibleStack) as refused:
        resolve(P40, pins=Pins(vllm="0.11.0"))
    assert refused.value.rule == "vllm-min-cc"
    assert "Tesla P40 (sm_61) cannot run vLLM 0.11.0" in str(refused.value)


def test_v100_stays_on_r580_with_a_cuda_12_toolkit_and_half():
    stack = resolve(V100)
    assert stack.driver_branch == "580"
    assert stack.driver_module == "proprietary"
    assert Version(stack.cuda_toolkit).major == 12
    assert stack.dtype == "half"


def test_h100_gets_bfloat16_and_the_open_module():
    stack = resolve(H100)
    assert stack.dtype == "bfloat16"
    assert stack.driver_module == "open"


def test_unknown_vllm_pin_is_refused():
    with pytest.raises(IncompatibleStack) as refused:
        resolve(V100, pins=Pins(vllm="0.0.1"))
    assert refused.value.rule == "vllm-known"


def test_torch_pin_no_vllm_uses_is_refused():
    with pytest.raises(IncompatibleStack) as refused:
        resolve(V100, pins=Pins(torch="1.13.0"))
    assert refused.value.rule == "vllm-pins-torch"


def test_vllm_and_torch_pins_that_disagree_are_refused():
    with pytest.raises(IncompatibleStack) as refused:
        resolve(V100, pins=Pins(vllm="0.9.0", torch="2.6.0"))
    assert refused.value.rule == "vllm-pins-torch"
    assert "pins torch==2.7.0" in str(refused.value)


def test_driver_pin_from_a_branch_that_dropped_volta_is_refused():
    with pytest.raises(IncompatibleStack) as refused:
        resolve(V100, pins=Pins(driver="590.48.01"))
    assert refused.value.rule == "driver-drives-gpu"


def test_old_driver_pin_limits_torch_cuda():
    stack = resolve(V100, pins=Pins(driver="550"))
    assert cuda_of_variant(stack.torch_cuda) <= Version("12.4")


def test_glibc_of_an_old_os_refuses_new_torch():
    with pytest.raises(IncompatibleStack) as refused:
        resolve(V100, os="ubuntu18.04", pins=Pins(vllm="0.8.5.post1"))
    assert refused.value.rule == "glibc"


def test_unknown_os_is_refused():
    with pytest.raises(IncompatibleStack) as refused:
        resolve(V100, os="plan9")
    assert refused.value.rule == "os-known"


def test_source_build_is_only_used_when_allowed():
    pins = Pins(vllm="0.10.0", torch="2.7.1+cu128", allow_source_build=True)
    with pytest.raises(IncompatibleStack):
        resolve(V100, pins=pins)  # cu128 torch has no sm_70: a source build does not help
    stack = resolve(V100, pins=Pins(vllm="0.10.0", vllm_source="source-build"))
    assert stack.vllm_source == "source-build"
    assert runs_on("7.0", load().torch_build("2.7.1").variants[stack.torch_cuda])


@pytest.mark.parametrize(
    ("cc", "archs", "expected"),
    [
        ("6.1", ("6.0",), True),
        ("7.0", ("7.5", "8.0"), False),
        ("8.6", ("8.0",), True),
        ("9.0", ("8.0", "8.6"), False),
        ("12.0", ("9.0", "10.0"), False),
        ("7.0", ("7.0",), True),
        ("8.6", ("7.5", "8.0+PTX"), True),
        ("9.0", ("7.5", "8.0+PTX"), True),
        ("7.0", ("7.5", "8.0+PTX"), False),
        ("6.1", ("6.0+PTX", "7.0"), True),
    ],
)
def test_runs_on_same_major_lower_minor_only(cc, archs, expected):
    assert runs_on(cc, archs) is expected


def _check_invariants(gpu: GpuModel, stack: Stack) -> None:
    matrix = load()
    release = matrix.vllm_release(stack.vllm)
    build = matrix.torch_build(stack.torch)
    wheels = matrix.vllm_wheels_for(stack.vllm)
    assert stack.torch == release.torch
    if stack.vllm_source == "pypi":
        assert stack.torch_cuda == wheels.pypi
    elif stack.vllm_source == "github-release":
        assert stack.torch_cuda in wheels.github
    elif stack.vllm_source == "pascal-index":
        assert stack.torch_cuda == build.pypi
    assert runs_on(gpu.compute_capability, build.variants[stack.torch_cuda])
    branch = matrix.driver_branch(stack.driver_branch)
    assert branch.drives(gpu.compute_capability)
    torch_cuda = cuda_of_variant(stack.torch_cuda)
    assert Version(branch.cuda) >= torch_cuda
    toolkit = next(t for t in matrix.toolkits if t.version.startswith(stack.cuda_toolkit + "."))
    assert Version(stack.cuda_toolkit) <= torch_cuda
    assert toolkit.compiles_for(gpu.compute_capability)
    assert Version(toolkit.min_driver) <= Version(stack.driver_version)
    assert (stack.dtype == "bfloat16") == (cc_version(gpu.compute_capability) >= Version("8"))
    if stack.xformers:
        wheels = matrix.xformers_wheels_for(stack.xformers)
        assert stack.xformers_build is not runs_on(gpu.compute_capability, wheels.archs)


@pytest.mark.parametrize("gpu", CATALOGUE, ids=lambda g: g.name)
def test_every_gpu_and_release_resolves_soundly_or_names_a_rule(gpu):
    outcomes = set()
    for release in load().vllm_releases:
        try:
            stack = resolve(gpu, pins=Pins(vllm=release.version))
        except IncompatibleStack as refused:
            assert refused.rule and refused.value and str(refused)
            outcomes.add("refused")
            continue
        _check_invariants(gpu, stack)
        outcomes.add("ok")
    assert "ok" in outcomes, f"{gpu.name}: no vLLM release resolves at all"


@pytest.mark.parametrize("gpu", CATALOGUE, ids=lambda g: g.name)
def test_auto_picks_the_newest_release_that_resolves(gpu):
    stack = resolve(gpu)
    _check_invariants(gpu, stack)
    newer = [r for r in load().vllm_releases if Version(r.version) > Version(stack.vllm)]
    for release in newer:
        if release.yanked or not release.torch:
            continue
        with pytest.raises(IncompatibleStack):
            resolve(gpu, pins=Pins(vllm=release.version))
