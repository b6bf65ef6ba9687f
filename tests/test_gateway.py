"""gpufleet.gateway: the gateway's settings, its upstreams from the inventory, haproxy.cfg."""

from __future__ import annotations

import runpy
import shutil
import subprocess

import pytest

from gpufleet.config import ConfigError, defaults
from gpufleet.gateway import (
    GatewayConfig,
    Upstream,
    dropin,
    render_config,
    upstreams,
)
from tests.e2e.helpers import REPO

GATEWAY = {
    k: v for k, v in runpy.run_path(str(REPO / "group_data/gateway.py")).items() if k[0] != "_"
}


def role_data(role: str) -> dict:
    return {k: v for k, v in runpy.run_path(str(REPO / f"group_data/{role}.py")).items()}


def getter(**data):
    merged = {**defaults(), **GATEWAY, **data}
    return lambda key, default=None: merged.get(key, default)


def host(name: str, role: str, address: str):
    data = role_data(role)
    return name, getter(ssh_hostname=address, **{k: v for k, v in data.items() if k[0] != "_"})


FLEET = [
    host("gpu01", "embedding", "10.0.0.1"),
    host("gpu02", "chat", "10.0.0.2"),
    host("gpu03", "embedding", "10.0.0.3"),
    ("gw", getter()),  # the gateway itself serves nothing
]


def test_settings_come_from_group_data():
    config = GatewayConfig.from_data("gw", getter())
    assert config.ports == {"embedding": 9000, "chat": 9001}
    assert config.admin_socket == "/run/haproxy/admin.sock" and config.api_key_file is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"gateway_chat_port": 9000}, "gw: gateway ports="),
        ({"gateway_chat_port": 70000}, "gw: gateway_chat_port=70000: must be an integer"),
        ({"gateway_api_key_file": "key.env"}, "gw: gateway_api_key_file='key.env': must be"),
        ({"gateway_bind": "0.0.0.0 x"}, "gw: gateway_bind='0.0.0.0 x': must be a non-empty"),
        ({"gateway_admin_socket": None}, "gw: gateway_admin_socket=None: must be set"),
    ],
)
def test_bad_settings_name_host_key_value_and_rule(data, message):
    with pytest.raises(ConfigError) as error:
        GatewayConfig.from_data("gw", getter(**data))
    assert str(error.value).startswith(message)


def test_upstreams_are_each_roles_servers_in_inventory_order():
    found = upstreams(FLEET)
    assert found["embedding"] == [
        Upstream("gpu01", "embedding", "10.0.0.1", 8000),
        Upstream("gpu03", "embedding", "10.0.0.3", 8000),
    ]
    assert [u.name for u in found["chat"]] == ["gpu02-chat"]


def test_config_has_one_front_per_role_with_checks_retries_and_timeouts():
    config = GatewayConfig.from_data("gw", getter())
    text = render_config("gw", config, upstreams(FLEET))
    embedding = text.split("\nbackend embedding\n")[1].split("frontend chat_front")[0]
    chat = text.split("\nbackend chat\n")[1]
    assert "bind 0.0.0.0:9000" in text and "bind 0.0.0.0:9001" in text
    assert "server gpu01-embedding 10.0.0.1:8000" in embedding
    assert "server gpu02-chat 10.0.0.2:8001" in chat and "gpu01" not in chat
    assert "http-check send meth GET uri /health" in embedding
    assert "retry-on conn-failure empty-response" in embedding
    assert "retry-on conn-failure\n" in chat  # a generation is never run twice
    assert "timeout server 900s" in text and "stats socket /run/haproxy/admin.sock" in text
    assert "VLLM_API_KEY" not in text  # no key configured: no check


def test_api_key_is_checked_from_the_environment_never_written():
    config = GatewayConfig.from_data("gw", getter(gateway_api_key_file="/etc/gpufleet/key.env"))
    text = render_config("gw", config, upstreams(FLEET))
    assert 'req.hdr(authorization) -m str "Bearer ${VLLM_API_KEY}"' in text
    assert "EnvironmentFile=/etc/gpufleet/key.env" in dropin(config)
    assert "EnvironmentFile" not in dropin(GatewayConfig.from_data("gw", getter()))


def test_a_role_without_servers_gets_no_front_and_no_servers_at_all_is_refused():
    config = GatewayConfig.from_data("gw", getter())
    text = render_config("gw", config, upstreams(FLEET[:1]))
    assert "frontend embedding_front" in text and "chat_front" not in text
    with pytest.raises(ConfigError, match=r"gw: gateway upstreams=\{\}: no host serves"):
        render_config("gw", config, upstreams([("gw", getter())]))


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy not installed here")
def test_rendered_config_passes_haproxy_check(tmp_path):
    path = tmp_path / "haproxy.cfg"
    config = GatewayConfig.from_data("gw", getter(gateway_api_key_file="/k"))
    path.write_text(render_config("gw", config, upstreams(FLEET)))
    check = subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
