"""Address plan of the sandbox: one /30 per host, names that fit Linux's 15-char limit."""

import ipaddress

import pytest

from sandbox import config, network


def test_first_host_gets_the_first_30():
    link = network.allocate(1)
    assert (link.gateway, link.address, link.prefixlen) == ("10.213.0.1", "10.213.0.2", 30)
    assert (link.netns, link.veth) == ("gpufleet-sbx01", "gfsbx01")


def test_sixteen_hosts_get_disjoint_30s_inside_the_host_net():
    links = [network.allocate(i) for i in range(1, config.MAX_HOSTS + 1)]
    nets = {ipaddress.ip_interface(f"{ln.address}/30").network for ln in links}
    assert len(nets) == config.MAX_HOSTS
    assert all(n.subnet_of(ipaddress.ip_network(config.HOST_NET)) for n in nets)
    assert links[-1].address == "10.213.0.62"
    assert all(len(ln.veth) <= 15 for ln in links)


def test_mirror_address_is_outside_every_host_net():
    mirror = ipaddress.ip_address(config.MIRROR_ADDRESS)
    assert mirror not in ipaddress.ip_network(config.HOST_NET)


@pytest.mark.parametrize("index", [0, config.MAX_HOSTS + 1])
def test_out_of_range_index_is_refused(index):
    with pytest.raises(ValueError, match="outside"):
        network.allocate(index)


def test_a_net_too_small_is_refused():
    with pytest.raises(ValueError, match="no room"):
        network.allocate(2, net="10.213.0.0/30")
