"""Facts read from the PCI bus: GPUs are visible here before any driver is installed."""

from __future__ import annotations

import re

from pyinfra.api import FactBase
from typing_extensions import override

NVIDIA_VENDOR_ID = "10de"

# PCI classes of a GPU's compute function: 0300 VGA compatible controller, 0302 3D controller.
# The same card's HDMI audio (0403) and USB-C (0c03) functions are left out.
GPU_CLASS_IDS = {"0300", "0302"}

# "0000:00:06.0 3D controller [0302]: NVIDIA Corporation Device [10de:2335] (rev a1)"
LSPCI_REGEX = re.compile(
    r"^(?P<slot>[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])\s+"
    r"(?P<class>.+?) \[(?P<class_id>[0-9a-f]{4})\]:\s+"
    r"(?P<description>.*?)\s*\[(?P<pci_id>[0-9a-f]{4}:[0-9a-f]{4})\]"
    r"(?:\s+\(rev [0-9a-f]+\))?\s*$",
)


class PciGpus(FactBase):
    """
    Returns the NVIDIA GPU functions on the PCI bus, in bus order; ``[]`` without lspci.
    Mapping ``pci_id`` to a GPU model is the catalogue's job (``gpufleet.gpus``), not this fact's:

    .. code:: python

        [
            {
                "slot": "0000:00:06.0",
                "pci_id": "10de:2335",
                "class": "3D controller",
                "description": "NVIDIA Corporation Device",
            },
        ]
    """

    @override
    def command(self) -> str:
        # -D: always print the PCI domain, -nn: numeric class and vendor:device ids besides names.
        return "lspci -Dnn"

    @override
    def requires_command(self) -> str:
        return "lspci"

    default = list

    @override
    def process(self, output):
        gpus = []
        for line in output:
            matches = LSPCI_REGEX.match(line.strip())
            if not matches:
                continue
            vendor = matches.group("pci_id").split(":", 1)[0]
            if vendor != NVIDIA_VENDOR_ID or matches.group("class_id") not in GPU_CLASS_IDS:
                continue
            gpus.append(
                {
                    "slot": matches.group("slot"),
                    "pci_id": matches.group("pci_id"),
                    "class": matches.group("class"),
                    "description": matches.group("description"),
                },
            )
        return gpus
