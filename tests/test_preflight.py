"""Preflight refuses every host at once, after the last one is checked."""

import pytest

from gpufleet.config import defaults
from gpufleet.preflight import PreflightRefused, check_host, detect_gpu, os_id


class FakeState:
    """Stands in for pyinfra's State: only its identity is used, as the key of one run."""


def _get(**overrides):
    return {**defaults(), **overrides}.get


def test_all_good_hosts_pass_and_return_their_plans():
    state = FakeState()
    hosts = 2
    first = check_host(state, "gpu01", _get(gpu="Tesla V100-SXM2-32GB"), hosts)
    last = check_host(state, "gpu05", _get(gpu="Tesla P40"), hosts)
    assert first.ok and last.ok
    assert last.stack.vllm_source == "pascal-index"


def test_one_refused_host_stops_the_run_with_one_line_per_refused_host():
    state = FakeState()
    hosts = 3
    check_host(state, "gpu01", _get(gpu="Tesla P40", vllm_version="0.11.0"), hosts)
    check_host(state, "gpu02", _get(gpu="Tesla V100-SXM2-32GB"), hosts)
    with pytest.raises(PreflightRefused) as refused:
        check_host(state, "gpu03", _get(gpu="Tesla V100-SXM2-32GB", chat_port="80"), hosts)
    lines = str(refused.value).splitlines()
    assert lines[0] == "2 of 3 hosts refused; nothing was changed on any host"
    assert lines[1].startswith("gpu01: Tesla P40 (sm_61) with vLLM 0.11.0")
    assert "rule: vllm-min-cc" in lines[1]
    assert lines[2] == "gpu03: chat_port='80': must be an integer from 1 to 65535"


def test_runs_do_not_share_refusals():
    hosts = 1
    with pytest.raises(PreflightRefused):
        check_host(FakeState(), "gpu01", _get(gpu="Tesla V900"), hosts)
    assert check_host(FakeState(), "gpu01", _get(gpu="Tesla T4"), hosts).ok


def test_auto_gpu_uses_the_detected_model():
    plan = check_host(FakeState(), "gpu01", _get(), 1, detected_gpu="Tesla P40")
    assert plan.gpu.name == "Tesla P40"


def test_auto_gpu_with_nothing_detected_is_refused():
    with pytest.raises(PreflightRefused, match="gpu01: gpu='auto' and no GPU was detected"):
        check_host(FakeState(), "gpu01", _get(), 1)


def test_detect_gpu_prefers_nvidia_smi_then_pci_ids():
    smi = [{"name": "NVIDIA H200", "index": 0}]
    pci = [{"pci_id": "10de:1b38", "slot": "0000:3b:00.0"}]
    assert detect_gpu(smi, pci) == "NVIDIA H200"
    assert detect_gpu([], pci) == "Tesla P40"
    assert detect_gpu([], [{"pci_id": "10de:ffff"}]) == "10de:ffff"
    assert detect_gpu([], []) is None


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ({"ID": "debian", "VERSION_ID": "12"}, "debian12"),
        ({"ID": "ubuntu", "VERSION_ID": "22.04"}, "ubuntu22.04"),
        ({"ID": "arch"}, None),
    ],
)
def test_os_id_from_the_linux_distribution_fact(meta, expected):
    assert os_id({"name": "x", "release_meta": meta}) == expected


def test_a_refused_host_waits_for_the_others_then_raises_the_whole_list():
    state, waited = FakeState(), []

    def wait(done):
        waited.append(done())  # not yet: gpu02 is still to be planned
        check_host(state, "gpu02", _get(gpu="Tesla T4", chat_port=0), 2)

    with pytest.raises(PreflightRefused) as refused:
        check_host(state, "gpu01", _get(gpu="Tesla V900"), 2, wait=wait)
    assert waited == [False]
    lines = str(refused.value).splitlines()
    assert lines[0] == "2 of 2 hosts refused; nothing was changed on any host"
    assert [line.split(":")[0] for line in lines[1:]] == ["gpu01", "gpu02"]


def test_a_refused_host_whose_wait_times_out_still_raises():
    with pytest.raises(PreflightRefused, match="1 of 3 hosts refused"):
        check_host(FakeState(), "gpu01", _get(gpu="Tesla V900"), 3, wait=lambda done: None)
