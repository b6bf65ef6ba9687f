"""Facts about Debian/Ubuntu packages: the version checks done by hand with apt and dpkg."""

from __future__ import annotations

import re

from pyinfra.api import FactBase, QuoteString
from pyinfra.api.command import make_formatted_string_command
from typing_extensions import override

# "  Installed: 1:3.9.0-4" / "  Candidate: (none)"
POLICY_FIELD_REGEX = re.compile(r"^\s+(?P<field>Installed|Candidate):\s+(?P<value>\S+)$")
# Version table rows: " *** 1:3.9.0-4 500" (the installed one) or "     6.1.176-1 500";
# the origins under each row ("        500 http://deb.debian.org/...") start with a number.
POLICY_VERSION_REGEX = re.compile(r"^ (?:\*\*\*| {3}) (?P<version>\S+) (?P<priority>-?\d+)$")
# apt-mark showhold's answer is the bare name ("pciutils", or "libfoo:i386" for a foreign
# architecture); the policy's own header is the name followed by a colon ("pciutils:").
HOLD_LINE_REGEX = re.compile(r"^[a-z0-9][a-z0-9+.-]+(?::[a-z0-9]+)?$")

# dpkg -l rows: "hi  libnccl2   2.28.3-1+cuda13.0   amd64   NVIDIA Collective ..."
DPKG_ROW_REGEX = re.compile(
    r"^(?P<status>[uirhp][ncHUFWti][ R]?)\s+(?P<name>[^\s:]+)(?::\S+)?\s+"
    r"(?P<version>\S+)\s+(?P<arch>\S+)(?:\s|$)",
)


# A query must not change the host: without a cache file, apt-cache and apt-mark build one and
# write /var/cache/apt/*.bin (seen on fresh Debian hosts, breaking `--dry`'s "nothing changed").
# Empty cache paths make apt build it in memory only.
_NO_CACHE_FILES = "-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache="
APT_CACHE = f"apt-cache {_NO_CACHE_FILES}"
APT_MARK = f"apt-mark {_NO_CACHE_FILES}"


class AptPolicy(FactBase):
    """
    Returns what apt knows of one package: the installed and candidate versions, every version
    in the version table (apt's order: newest first), and whether it is held. ``apt-cache policy``
    does not show holds (they are dpkg selections, not pins), so the command also runs
    ``apt-mark showhold PKG``, which prints the bare name of a held package. A package apt does
    not know gives the empty value:

    .. code:: python

        {
            "installed": "3.0.19-1~deb12u2",  # None when not installed
            "candidate": "3.0.22-1~deb12u2",  # None when apt has no candidate
            "versions": ["3.0.22-1~deb12u2", "3.0.20-1~deb12u2", "3.0.19-1~deb12u2"],
            "held": False,
        }
    """

    @override
    def command(self, package):
        return make_formatted_string_command(
            f"{APT_CACHE} policy {{0}}; {APT_MARK} showhold {{0}}",
            QuoteString(package),
        )

    @override
    def requires_command(self, package) -> str:
        return "apt-cache"

    @staticmethod
    def default():
        return {"installed": None, "candidate": None, "versions": [], "held": False}

    @override
    def process(self, output):
        policy = self.default()
        for line in output:
            field = POLICY_FIELD_REGEX.match(line)
            if field:
                value = field.group("value")
                policy[field.group("field").lower()] = None if value == "(none)" else value
                continue
            row = POLICY_VERSION_REGEX.match(line)
            if row:
                policy["versions"].append(row.group("version"))
            elif HOLD_LINE_REGEX.match(line):
                policy["held"] = True
        return policy


class AptHolds(FactBase):
    """
    Returns the packages on hold, sorted:

    .. code:: python

        ["libcudnn9-cuda-13", "libnccl2"]
    """

    @override
    def command(self) -> str:
        return f"{APT_MARK} showhold"

    @override
    def requires_command(self) -> str:
        return "apt-mark"

    default = list

    @override
    def process(self, output):
        return sorted(line.strip() for line in output if line.strip())


class DpkgPackages(FactBase):
    """
    Returns every package dpkg lists, with its two- or three-letter status (``ii`` installed,
    ``hi`` installed and held, ``rc`` removed leaving config files) and architecture. Unlike
    pyinfra's ``deb.DebPackages`` it keeps held and half-installed rows and says which they are:

    .. code:: python

        {"libnccl2": {"version": "2.28.3-1+cuda13.0", "status": "hi", "arch": "amd64"}}
    """

    @override
    def command(self) -> str:
        # Run without a terminal (as pyinfra runs it), dpkg sizes columns to fit, never cutting.
        return "dpkg -l"

    @override
    def requires_command(self) -> str:
        return "dpkg"

    default = dict

    @override
    def process(self, output):
        packages = {}
        for line in output:
            row = DPKG_ROW_REGEX.match(line)
            if row:
                packages[row.group("name")] = {
                    "version": row.group("version"),
                    "status": row.group("status").strip(),
                    "arch": row.group("arch"),
                }
        return packages
