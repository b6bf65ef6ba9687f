"""Tests for gpufleet.gpus: lookups, matching rules, table sanity, and the pci.ids cross-check."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

from gpufleet import gpus
from gpufleet.gpus import CATALOGUE, GpuModel, UnknownGpu, by_name, by_pci_id, lookup

PCI_IDS = Path("/usr/share/misc/pci.ids")

# Catalogue ids that pci.ids named only after Debian/Ubuntu's packaged snapshot (2023.04.11):
# id -> the first pci.ids version naming it (from the pciutils/pciids git history). An older
# database may lack them; any other id missing from any database is a catalogue error.
NAMED_SINCE = {
    "10de:2321": "2023.06.19",  # H100 NVL ("H100L 94GB"); plain "GH100" before
    "10de:26b9": "2023.08.12",  # L40S
    "10de:2335": "2024.03.31",  # H200 SXM 141GB
    "10de:233b": "2024.09.12",  # H200 NVL
}
ARCH_BY_CC = {
    (6, 0): "Pascal",
    (6, 1): "Pascal",
    (7, 0): "Volta",
    (7, 5): "Turing",
    (8, 0): "Ampere",
    (8, 6): "Ampere",
    (8, 9): "Ada Lovelace",
    (9, 0): "Hopper",
}
FORM_FACTORS = {"pcie", "sxm", "sxm2", "sxm3", "sxm4", "sxm5", "dgxs", "fhhl", "nvl"}
ALL_IDS = sorted(pci_id for model in CATALOGUE for pci_id in model.pci_ids)


def _gb(text: str) -> set[int]:
    return {int(n) for n in re.findall(r"(\d+) ?gb\b", text.casefold())}


# --- lookups by PCI id -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling", ["10de:1db5", "10DE:1DB5", "1db5", "0x1db5", "[10de:1db5]", " 10de:1db5\n"]
)
def test_by_pci_id_accepts_the_usual_spellings(spelling: str) -> None:
    assert by_pci_id(spelling).name == "Tesla V100-SXM2-32GB"


def test_one_model_may_have_several_pci_ids() -> None:
    assert by_pci_id("10de:1db1") is by_pci_id("10de:1df5") is by_name("Tesla V100-SXM2-16GB")
    assert by_pci_id("10de:20b1") is by_pci_id("10de:20f1") is by_name("NVIDIA A100-PCIE-40GB")


def test_shared_a2_a16_id_maps_to_a16() -> None:
    assert by_pci_id("10de:25b6").name == "NVIDIA A16"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("10de:0000", "not in the catalogue"),
        ("8086:1db5", "vendor 8086 is not NVIDIA"),
        ("10de:1db", "not a PCI id"),
        ("Tesla P40", "not a PCI id"),
    ],
)
def test_by_pci_id_rejects(value: str, reason: str) -> None:
    with pytest.raises(UnknownGpu, match=reason):
        by_pci_id(value)


# --- lookups by name ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        "Tesla V100-SXM2-32GB",  # nvidia-smi
        "tesla v100-sxm2-32gb",
        "V100-SXM2-32GB",
        "NVIDIA Tesla V100 SXM2 32GB",
        "Tesla V100 SXM2 32GB",  # lspci
        "  Tesla  V100_SXM2_32GB ",
    ],
)
def test_by_name_normalises_case_separators_and_prefixes(spelling: str) -> None:
    assert by_name(spelling).pci_ids == ("10de:1db5",)


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB"),  # R450-era driver, no "NVIDIA "
        ("GeForce RTX 3090", "NVIDIA GeForce RTX 3090"),
        ("TITAN V", "NVIDIA TITAN V"),
        ("H100 SXM5 80GB", "NVIDIA H100 80GB HBM3"),  # lspci
        ("A100 PCIe 80GB", "NVIDIA A100 80GB PCIe"),  # lspci
        ("NVIDIA A100-PCIE-80GB", "NVIDIA A100 80GB PCIe"),
        ("H200 SXM 141GB", "NVIDIA H200"),
        ("Tesla P40", "Tesla P40"),
    ],
)
def test_by_name_knows_older_driver_and_lspci_names(spelling: str, name: str) -> None:
    assert by_name(spelling).name == name


@pytest.mark.parametrize(
    "near_miss",
    ["V100", "Tesla V100", "V100-SXM2", "V100-SXM2-32G", "A100", "H100", "RTX 4090", "Tesla K80"],
)
def test_by_name_never_guesses(near_miss: str) -> None:
    with pytest.raises(UnknownGpu):
        by_name(near_miss)


def test_lookup_takes_either() -> None:
    assert lookup("Tesla P40") is lookup("10de:1b38") is lookup("1B38")
    assert lookup("nvidia l4").pci_ids == ("10de:27b8",)


def test_lookup_errors_say_what_was_tried() -> None:
    with pytest.raises(UnknownGpu, match="name or PCI id 'a100'"):
        lookup("a100")  # hex-shaped, but no such id either
    with pytest.raises(UnknownGpu, match="vendor 1002 is not NVIDIA"):
        lookup("1002:1db5")


@pytest.mark.parametrize("model", CATALOGUE, ids=lambda m: m.name)
def test_every_entry_round_trips(model: GpuModel) -> None:
    for name in (model.name, *model.aliases):
        assert by_name(name) is model
        assert lookup(name) is model
    for pci_id in model.pci_ids:
        assert by_pci_id(pci_id) is model
        assert lookup(pci_id) is model


# --- model facts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sm", "cc"),
    [
        ("Tesla V100-SXM2-32GB", "sm_70", (7, 0)),
        ("Tesla P40", "sm_61", (6, 1)),
        ("Tesla P100-PCIE-16GB", "sm_60", (6, 0)),
        ("Tesla T4", "sm_75", (7, 5)),
        ("NVIDIA L4", "sm_89", (8, 9)),
        ("NVIDIA H100 80GB HBM3", "sm_90", (9, 0)),
    ],
)
def test_sm_and_cc(name: str, sm: str, cc: tuple[int, int]) -> None:
    model = by_name(name)
    assert (model.sm, model.cc) == (sm, cc)


def test_p40_has_slow_fp16_and_no_bf16() -> None:
    p40 = by_name("Tesla P40")
    assert p40.fp16_ratio == pytest.approx(1 / 64)
    assert not p40.bf16
    assert p40.vram_mib == 24576


def test_v100_has_fast_fp16_and_no_bf16() -> None:
    for model in CATALOGUE:
        if model.architecture == "Volta":
            assert model.fp16_ratio == 2.0
            assert not model.bf16, model.name


def test_bf16_exactly_from_sm80() -> None:
    for model in CATALOGUE:
        assert model.bf16 == (model.cc >= (8, 0)), model.name
    assert by_name("NVIDIA A100-SXM4-80GB").bf16


def test_unknown_gpu_message_names_value_and_where_to_add_it() -> None:
    with pytest.raises(UnknownGpu) as caught:
        by_name("Tesla K80")
    message = str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert caught.value.value == "Tesla K80"
    for part in ("'Tesla K80'", "gpufleet/gpus.py", "pci.ids", "nvidia-smi --query-gpu=name"):
        assert part in message


# --- table sanity ------------------------------------------------------------------------------


@pytest.mark.parametrize("model", CATALOGUE, ids=lambda m: m.name)
def test_entry_is_well_formed(model: GpuModel) -> None:
    assert model.name == model.name.strip() and model.name
    assert model.pci_ids and all(re.fullmatch(r"10de:[0-9a-f]{4}", i) for i in model.pci_ids)
    assert re.fullmatch(r"\d+\.\d", model.compute_capability)
    assert ARCH_BY_CC[model.cc] == model.architecture
    assert model.vram_mib > 0 and model.vram_mib % 1024 == 0
    assert 0 < model.fp16_ratio <= 4
    assert _gb(model.name) <= {model.vram_mib // 1024}  # "32GB" in the name agrees with vram
    assert isinstance(model.pci_ids, tuple) and isinstance(model.aliases, tuple)


def test_no_duplicate_ids_or_names() -> None:
    assert len(ALL_IDS) == len(set(ALL_IDS))
    # Within one model an alias may normalise like the name; across models never.
    keys = [{gpus.normalise_name(n) for n in (m.name, *m.aliases)} for m in CATALOGUE]
    assert sum(map(len, keys)) == len(set().union(*keys))
    assert len({m.name for m in CATALOGUE}) == len(CATALOGUE)


def test_no_name_looks_like_a_pci_id() -> None:
    # lookup() tries names first; a name that is also 4 hex digits would shadow a PCI id.
    for model in CATALOGUE:
        for name in (model.name, *model.aliases):
            assert not re.fullmatch(r"[0-9a-f]{4}", gpus.normalise_name(name)), name


def test_index_refuses_a_duplicate_id() -> None:
    model = CATALOGUE[0]
    twin = GpuModel("Other", model.pci_ids, "7.0", "Volta", 1024, False, 2.0)
    with pytest.raises(ValueError, match="listed twice"):
        gpus._index((model, twin))


def test_docstring_examples() -> None:
    assert doctest.testmod(gpus).failed == 0


# --- cross-check against pci.ids ---------------------------------------------------------------


def _nvidia_devices(text: str) -> tuple[str, dict[str, str]]:
    """(database version, {"10de:1db5": "GV100GL [Tesla V100 SXM2 32GB]"}) from pci.ids text."""
    version = re.search(r"^#\s*Version:\s*(\S+)", text, re.M)
    devices: dict[str, str] = {}
    in_nvidia = False
    for line in text.splitlines():
        if re.match(r"[0-9a-f]{4}  ", line):  # a vendor line ends the previous vendor's block
            in_nvidia = line.startswith("10de ")
        elif in_nvidia and (m := re.match(r"\t([0-9a-f]{4})  (.*)", line)):
            devices[f"10de:{m[1]}"] = m[2]
    return (version[1] if version else "0"), devices


@pytest.fixture(scope="module")
def pci_database() -> tuple[str, dict[str, str]]:
    if not PCI_IDS.exists():
        pytest.skip(f"{PCI_IDS} absent (apt-get install pci.ids)")
    return _nvidia_devices(PCI_IDS.read_text(encoding="utf-8", errors="replace"))


def test_pci_ids_parser_stays_inside_vendor_10de() -> None:
    text = (
        "#\tVersion: 2024.01.01\n8086  Intel\n\t2335  USB\n"
        "10de  NVIDIA\n\t1b38  GP102GL [Tesla P40]\n1002  AMD\n\t1db5  Other\n"
    )
    assert _nvidia_devices(text) == ("2024.01.01", {"10de:1b38": "GP102GL [Tesla P40]"})


@pytest.mark.parametrize("pci_id", ALL_IDS)
def test_pci_id_is_in_pci_ids_with_a_consistent_name(
    pci_id: str, pci_database: tuple[str, dict[str, str]]
) -> None:
    version, devices = pci_database
    model = by_pci_id(pci_id)
    listed = devices.get(pci_id)
    bracket = re.search(r"\[(.*)\]", listed or "")
    if (listed is None or bracket is None) and version < NAMED_SINCE.get(pci_id, "0"):
        pytest.skip(f"pci.ids {version} predates {pci_id} ({NAMED_SINCE[pci_id]})")
    assert bracket, f"{pci_id} ({model.name}) not named under vendor 10de in {PCI_IDS}: {listed}"
    listed_name = gpus.normalise_name(bracket[1])
    # The model's family token (first token with a digit: v100, p40, a100, 4090) must appear.
    own = gpus.normalise_name(model.name)
    token = next((t for t in own.split() if re.search(r"\d", t)), own)
    assert re.search(rf"\b{re.escape(token)}", listed_name), (pci_id, listed, model.name)
    assert _gb(listed_name) <= {model.vram_mib // 1024}, (pci_id, listed, model.vram_mib)
    forms_listed = FORM_FACTORS & set(listed_name.split())
    own_words = {w for n in (model.name, *model.aliases) for w in gpus.normalise_name(n).split()}
    forms_own = FORM_FACTORS & own_words
    assert not (forms_listed and forms_own) or forms_listed <= forms_own, (pci_id, listed)
