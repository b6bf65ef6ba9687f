"""NVIDIA GPU catalogue: PCI device id or ``nvidia-smi`` name -> model facts.

The solver needs a GPU's compute capability (which wheels carry its SASS), VRAM (serving
sizes), bf16 support and fp16 speed (the ``--dtype``). Hosts report a GPU two ways: ``lspci -nn``
gives the PCI id (``10de:1db5``, known before any driver is installed), ``nvidia-smi`` gives a
name (``Tesla V100-SXM2-32GB``). Both resolve here, to the same frozen ``GpuModel``.

An unknown GPU raises ``UnknownGpu``; nothing is guessed. Name matching normalises spelling only
(case, ``-``/``_``/spaces, a leading ``NVIDIA`` or ``Tesla``); it never picks a nearest model.

    >>> lookup("10de:1db5").name
    'Tesla V100-SXM2-32GB'
    >>> by_name("nvidia tesla v100 sxm2 32gb").sm
    'sm_70'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NVIDIA_VENDOR_ID = "10de"
_WHERE = "gpufleet/gpus.py"


@dataclass(frozen=True)
class GpuModel:
    """One GPU model, as ``nvidia-smi`` and ``lspci`` know it.

    >>> m = by_pci_id("10de:1b38")
    >>> (m.name, m.cc, m.bf16, m.fp16_ratio)
    ('Tesla P40', (6, 1), False, 0.015625)
    """

    name: str
    pci_ids: tuple[str, ...]
    compute_capability: str
    architecture: str
    vram_mib: int
    bf16: bool
    fp16_ratio: float
    aliases: tuple[str, ...] = ()

    @property
    def sm(self) -> str:
        """CUDA arch name, as in ``torch.cuda.get_arch_list()``: ``"sm_70"``."""
        major, minor = self.cc
        return f"sm_{major}{minor}"

    @property
    def cc(self) -> tuple[int, int]:
        """Compute capability as a comparable tuple: ``(7, 0)``."""
        major, minor = self.compute_capability.split(".")
        return int(major), int(minor)


class UnknownGpu(ValueError):
    """A GPU name or PCI id that the catalogue does not hold.

    >>> str(UnknownGpu("Tesla K80"))[:30]
    "unknown GPU name 'Tesla K80': "
    """

    def __init__(self, value: str, what: str = "name", reason: str = "not in the catalogue"):
        self.value = value
        super().__init__(
            f"unknown GPU {what} {value!r}: {reason}; to support it, add a row to _TABLE in "
            f"{_WHERE} (its PCI id from /usr/share/misc/pci.ids, its name exactly as "
            "`nvidia-smi --query-gpu=name --format=csv,noheader` prints it)"
        )


def _gpu(name: str, ids: str, cc: str, arch: str, gb: int, fp16: float, *aliases: str) -> GpuModel:
    # bf16 follows from the compute capability (native bf16 arithmetic starts at sm_80), so it is
    # derived rather than typed per row, where it could disagree with cc.
    return GpuModel(
        name=name,
        pci_ids=tuple(f"{NVIDIA_VENDOR_ID}:{i}" for i in ids.split()),
        compute_capability=cc,
        architecture=arch,
        vram_mib=gb * 1024,
        bf16=int(cc.split(".")[0]) >= 8,
        fp16_ratio=fp16,
        aliases=aliases,
    )


# fp16:fp32 is the non-tensor-core peak ratio from NVIDIA's architecture whitepapers / datasheets.
# GP102/GP104 (P40, P4, GTX 1080 Ti) run fp16 at 1/64 of fp32, which is why P40 serves float32.
_SLOW = 1 / 64
# VRAM is the nominal size x 1024 MiB; nvidia-smi's memory.total reads a little lower (ECC and
# reserved memory: 32510 MiB on a V100-SXM2-32GB), so compare with a tolerance, never ==.
#
# Columns: nvidia-smi name | PCI device ids (vendor 10de) | cc | arch | GB | fp16:fp32 | aliases.
# Aliases are other names for the same model: older drivers' (no "NVIDIA " prefix) and lspci's
# (pci.ids brackets), when they normalise differently from the name.
# Shared ids: 1db1 and 1df5 are both V100 SXM2 16GB, 20b1 and 20f1 both A100 PCIe 40GB (pci.ids
# names both so). 25b6 is "A2 / A16" in pci.ids (the subsystem id tells them apart); it maps to
# the A16, whose per-GPU facts (GA107, sm_86, 16 GB) are the A2's too. "NVIDIA A2" is not listed.
_TABLE: tuple[GpuModel, ...] = (
    # Pascal
    _gpu("Tesla P100-PCIE-12GB", "15f7", "6.0", "Pascal", 12, 2.0),
    _gpu("Tesla P100-PCIE-16GB", "15f8", "6.0", "Pascal", 16, 2.0),
    _gpu("Tesla P100-SXM2-16GB", "15f9", "6.0", "Pascal", 16, 2.0),
    _gpu("Tesla P40", "1b38", "6.1", "Pascal", 24, _SLOW),
    _gpu("Tesla P4", "1bb3", "6.1", "Pascal", 8, _SLOW),
    _gpu("NVIDIA GeForce GTX 1080 Ti", "1b06", "6.1", "Pascal", 11, _SLOW),
    # Volta
    _gpu("Tesla V100-SXM2-16GB", "1db1 1df5", "7.0", "Volta", 16, 2.0),
    _gpu("Tesla V100-DGXS-16GB", "1db2", "7.0", "Volta", 16, 2.0),
    _gpu("Tesla V100-FHHL-16GB", "1db3", "7.0", "Volta", 16, 2.0),
    _gpu("Tesla V100-PCIE-16GB", "1db4", "7.0", "Volta", 16, 2.0),
    _gpu("Tesla V100-SXM2-32GB", "1db5", "7.0", "Volta", 32, 2.0),
    _gpu("Tesla V100-PCIE-32GB", "1db6", "7.0", "Volta", 32, 2.0),
    _gpu("Tesla V100-DGXS-32GB", "1db7", "7.0", "Volta", 32, 2.0),
    _gpu("Tesla V100-SXM3-32GB", "1db8", "7.0", "Volta", 32, 2.0),
    _gpu("Tesla V100S-PCIE-32GB", "1df6", "7.0", "Volta", 32, 2.0),
    _gpu("NVIDIA TITAN V", "1d81", "7.0", "Volta", 12, 2.0),
    # Turing
    _gpu("Tesla T4", "1eb8", "7.5", "Turing", 16, 2.0),
    # Ampere: GA100 has 4x fp16 units; GA10x runs fp16 at the fp32 rate.
    _gpu("NVIDIA A100-SXM4-40GB", "20b0", "8.0", "Ampere", 40, 4.0),
    _gpu("NVIDIA A100-PCIE-40GB", "20b1 20f1", "8.0", "Ampere", 40, 4.0),
    _gpu("NVIDIA A100-SXM4-80GB", "20b2", "8.0", "Ampere", 80, 4.0),
    _gpu(
        "NVIDIA A100 80GB PCIe", "20b5", "8.0", "Ampere", 80, 4.0, "NVIDIA A100-PCIE-80GB"
    ),  # "A100 PCIe 80GB" in pci.ids; vGPU tables spell it the second way
    _gpu("NVIDIA A30", "20b7", "8.0", "Ampere", 24, 4.0, "A30 PCIe"),
    _gpu("NVIDIA A10", "2236", "8.6", "Ampere", 24, 1.0),
    _gpu("NVIDIA A40", "2235", "8.6", "Ampere", 48, 1.0),
    _gpu("NVIDIA A16", "25b6", "8.6", "Ampere", 16, 1.0, "A2 / A16"),
    _gpu("NVIDIA RTX A6000", "2230", "8.6", "Ampere", 48, 1.0),
    _gpu("NVIDIA GeForce RTX 3090", "2204", "8.6", "Ampere", 24, 1.0),
    # Ada Lovelace
    _gpu("NVIDIA L4", "27b8", "8.9", "Ada Lovelace", 24, 1.0),
    _gpu("NVIDIA L40", "26b5", "8.9", "Ada Lovelace", 48, 1.0),
    _gpu("NVIDIA L40S", "26b9", "8.9", "Ada Lovelace", 48, 1.0),
    _gpu("NVIDIA GeForce RTX 4090", "2684", "8.9", "Ada Lovelace", 24, 1.0),
    # Hopper
    _gpu("NVIDIA H100 PCIe", "2331", "9.0", "Hopper", 80, 2.0),
    _gpu("NVIDIA H100 80GB HBM3", "2330", "9.0", "Hopper", 80, 2.0, "H100 SXM5 80GB"),
    _gpu("NVIDIA H100 NVL", "2321", "9.0", "Hopper", 94, 2.0, "H100L 94GB"),
    _gpu("NVIDIA H200", "2335", "9.0", "Hopper", 141, 2.0, "H200 SXM 141GB"),
    _gpu("NVIDIA H200 NVL", "233b", "9.0", "Hopper", 141, 2.0),
)
CATALOGUE: tuple[GpuModel, ...] = _TABLE

# Vendor prefixes that drivers add or drop across releases ("A100-SXM4-40GB" on R450 became
# "NVIDIA A100-SXM4-40GB"), and that people type ("NVIDIA Tesla V100 ...").
_PREFIXES = ("nvidia ", "tesla ")
_PCI_ID = re.compile(r"^\[?(?:(?:0x)?(?P<vendor>[0-9a-f]{4}):)?(?:0x)?(?P<device>[0-9a-f]{4})\]?$")


def normalise_name(name: str) -> str:
    """The key names are matched on: casefolded, ``-``/``_`` as spaces, prefixes dropped.

    >>> normalise_name("NVIDIA Tesla V100-SXM2-32GB")
    'v100 sxm2 32gb'
    """
    key = re.sub(r"[\s_-]+", " ", name.casefold()).strip()
    while key.startswith(_PREFIXES):
        key = key.split(" ", 1)[1] if " " in key else ""
    return key


def _index(catalogue: tuple[GpuModel, ...]) -> tuple[dict[str, GpuModel], dict[str, GpuModel]]:
    # Built once at import; a collision is a table bug, so fail loudly rather than let the
    # later row win silently.
    by_id: dict[str, GpuModel] = {}
    by_key: dict[str, GpuModel] = {}
    for model in catalogue:
        for pci_id in model.pci_ids:
            if by_id.setdefault(pci_id, model) is not model:
                raise ValueError(f"{_WHERE}: PCI id {pci_id} listed twice")
        for name in (model.name, *model.aliases):
            if by_key.setdefault(normalise_name(name), model) is not model:
                raise ValueError(f"{_WHERE}: name {name!r} matches two models")
    return by_id, by_key


_BY_PCI_ID, _BY_NAME = _index(CATALOGUE)


def by_pci_id(pci_id: str) -> GpuModel:
    """Model for a PCI id; accepts ``10de:1db5``, ``[10DE:1DB5]`` (lspci -nn), ``1db5``, ``0x1db5``.

    A bare device id means vendor 10de; another vendor raises ``UnknownGpu``.

    >>> by_pci_id("10DE:1DB5").name
    'Tesla V100-SXM2-32GB'
    """
    match = _PCI_ID.match(pci_id.strip().casefold())
    if match is None:
        raise UnknownGpu(pci_id, "PCI id", "not a PCI id of the form 10de:1db5")
    vendor = match["vendor"] or NVIDIA_VENDOR_ID
    if vendor != NVIDIA_VENDOR_ID:
        raise UnknownGpu(pci_id, "PCI id", f"vendor {vendor} is not NVIDIA ({NVIDIA_VENDOR_ID})")
    model = _BY_PCI_ID.get(f"{vendor}:{match['device']}")
    if model is None:
        raise UnknownGpu(pci_id, "PCI id")
    return model


def by_name(name: str) -> GpuModel:
    """Model for a name as nvidia-smi or lspci prints it, however spelled or prefixed.

    >>> by_name("V100-SXM2-32GB") is by_name("NVIDIA Tesla V100 SXM2 32GB")
    True
    """
    model = _BY_NAME.get(normalise_name(name))
    if model is None:
        raise UnknownGpu(name, "name")
    return model


def lookup(name_or_pci_id: str) -> GpuModel:
    """Model for a name or a PCI id (names are tried first: ``a100`` is also valid hex).

    >>> lookup("Tesla P40") is lookup("10de:1b38")
    True
    """
    try:
        return by_name(name_or_pci_id)
    except UnknownGpu:
        pass
    try:
        return by_pci_id(name_or_pci_id)
    except UnknownGpu as error:
        # Only a vendor:device value is surely a PCI id and keeps by_pci_id's specific reason
        # (e.g. wrong vendor); a bare "a100" may have been meant as a name.
        if ":" in name_or_pci_id:
            raise
        raise UnknownGpu(name_or_pci_id, "name or PCI id") from error
