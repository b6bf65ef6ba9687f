"""Sandbox networking: one network namespace and one veth pair per host, a /30 each.

Test infrastructure only (see sandbox/__init__.py); never imported by gpufleet/ or tasks/.

Host k (1-based) gets the k-th /30 of config.HOST_NET: the box side of the veth takes the first
address (the host's gateway), the host side (`eth0` in the namespace) the second. The mirror
listens on config.MIRROR_ADDRESS, a /32 on the box's `lo`, which every host reaches through its
default route: one mirror URL for all hosts, and nothing listening on the box's real interfaces.
"""

import ipaddress
import subprocess
from dataclasses import dataclass

from sandbox import config


@dataclass(frozen=True)
class Link:
    """Addresses and names of one host's link. Example: sbx01 -> 10.213.0.2 via 10.213.0.1."""

    netns: str
    veth: str
    gateway: str
    address: str
    prefixlen: int = 30


def host_name(index: int) -> str:
    """`host_name(1)` -> "sbx01"."""
    return f"{config.HOST_PREFIX}{index:02d}"


def allocate(index: int, net: str = config.HOST_NET) -> Link:
    """The link of host `index` (1-based): its /30 inside `net`, netns and veth names."""
    if not 1 <= index <= config.MAX_HOSTS:
        raise ValueError(f"host index {index} outside 1..{config.MAX_HOSTS}")
    subnets = ipaddress.ip_network(net).subnets(new_prefix=30)
    for _ in range(index - 1):
        next(subnets)
    try:
        subnet = next(subnets)
    except StopIteration:
        raise ValueError(f"{net} has no room for host {index} (a /30 each)") from None
    gateway, address = list(subnet.hosts())
    name = host_name(index)
    return Link(
        netns=config.NETNS_PREFIX + name,
        veth=config.VETH_PREFIX + name,
        gateway=str(gateway),
        address=str(address),
    )


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def create(link: Link) -> None:
    """Create the namespace, the veth pair and the addresses/route (the link must not exist)."""
    ip("netns", "add", link.netns)
    ip("link", "add", link.veth, "type", "veth", "peer", "name", "eth0", "netns", link.netns)
    ip("addr", "add", f"{link.gateway}/{link.prefixlen}", "dev", link.veth)
    ip("link", "set", link.veth, "up")
    ip("-n", link.netns, "addr", "add", f"{link.address}/{link.prefixlen}", "dev", "eth0")
    ip("-n", link.netns, "link", "set", "lo", "up")
    ip("-n", link.netns, "link", "set", "eth0", "up")
    ip("-n", link.netns, "route", "add", "default", "via", link.gateway)


def delete(netns: str, veth: str) -> None:
    """Delete a namespace and its veth; quiet when they are already gone."""
    ip("link", "del", veth, check=False)  # deletes the peer in the namespace too
    ip("netns", "del", netns, check=False)


def leftover_namespaces() -> list[str]:
    """Namespaces named like ours (from a crashed run that lost its state file)."""
    out = ip("netns", "list", check=False).stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if n.startswith(config.NETNS_PREFIX + config.HOST_PREFIX)]


def leftover_veths() -> list[str]:
    """Box-side veths named like ours."""
    out = ip("-o", "link", "show", check=False).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
    return [n for n in names if n.startswith(config.VETH_PREFIX + config.HOST_PREFIX)]


def add_mirror_address(address: str = config.MIRROR_ADDRESS) -> None:
    """Put the mirror's /32 on lo (idempotent)."""
    if not has_mirror_address(address):
        ip("addr", "add", f"{address}/32", "dev", "lo", "label", config.MIRROR_ADDR_LABEL)


def has_mirror_address(address: str = config.MIRROR_ADDRESS) -> bool:
    return f" {address}/32 " in ip("-o", "addr", "show", "dev", "lo", check=False).stdout


def remove_mirror_address(address: str = config.MIRROR_ADDRESS) -> None:
    if has_mirror_address(address):
        ip("addr", "del", f"{address}/32", "dev", "lo", check=False)
