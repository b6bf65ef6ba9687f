"""The gateway: one HAProxy front per serving role, rendered from the inventory.

    >>> backend_name("chat"), server_name("gpu03", "chat")
    ('chat', 'gpu03-chat')

The upstreams of a role are every inventory host's servers of that role (the same
`gpufleet.serve.server_specs` the serving task uses), addressed by the host's `ssh_hostname`.
The rollout (gpufleet.drain) finds a server in the balancer by the same two names.
Settings: group_data/gateway.py, checked here before any host is touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gpufleet.config import ConfigError
from gpufleet.serve import ROLES, server_specs
from gpufleet.services import render

CONFIG_PATH = "/etc/haproxy/haproxy.cfg"
DROPIN_PATH = "/etc/systemd/system/haproxy.service.d/gpufleet.conf"
TEMPLATE = "haproxy.cfg.j2"
# Retried after a failed connection only: nothing reached a server, so it is safe for any
# request. Embeddings are pure functions of their input, so an empty answer (a server killed
# mid-request) is retried too; a chat generation is not run twice.
RETRY_ON = {"embedding": "conn-failure empty-response", "chat": "conn-failure"}


def backend_name(role: str) -> str:
    return role


def server_name(host: str, service: str) -> str:
    return f"{host}-{service}"


@dataclass(frozen=True)
class Upstream:
    host: str
    service: str  # the server's name on its host (unit gpufleet-vllm-<service>)
    address: str
    port: int

    @property
    def name(self) -> str:
        return server_name(self.host, self.service)


@dataclass(frozen=True)
class GatewayConfig:
    """A gateway host's settings (group_data/gateway.py)."""

    ports: dict[str, int]  # role -> front port
    bind: str
    api_key_file: str | None
    admin_socket: str
    timeout_s: int  # client/server inactivity: a long generation may stream for minutes
    connect_timeout_s: int
    check_interval_s: int
    retries: int
    hard_stop_after_s: int  # after a reload, old workers finish in-flight requests this long

    @classmethod
    def from_data(cls, host: str, get: Callable[[str, Any], Any]) -> GatewayConfig:
        ports = {role: _int(host, f"gateway_{role}_port", get, 1, 65535) for role in ROLES}
        if len(set(ports.values())) != len(ports):
            raise ConfigError(host, "gateway ports", ports, "each role needs its own port")
        return cls(
            ports=ports,
            bind=_str(host, "gateway_bind", get),
            api_key_file=_optional_path(host, "gateway_api_key_file", get),
            admin_socket=_optional_path(host, "gateway_admin_socket", get) or "",
            timeout_s=_int(host, "gateway_timeout_s", get, 1, 86400),
            connect_timeout_s=_int(host, "gateway_connect_timeout_s", get, 1, 600),
            check_interval_s=_int(host, "gateway_check_interval_s", get, 1, 600),
            retries=_int(host, "gateway_retries", get, 0, 10),
            hard_stop_after_s=_int(host, "gateway_hard_stop_after_s", get, 1, 86400),
        )


def _value(host: str, key: str, get: Callable[[str, Any], Any]) -> Any:
    value = get(key, None)
    if value is None and key not in ("gateway_api_key_file",):
        raise ConfigError(host, key, value, "must be set (group_data/gateway.py)")
    return value


def _int(host: str, key: str, get: Callable[[str, Any], Any], low: int, high: int) -> int:
    value = _value(host, key, get)
    if isinstance(value, str) and value.isdigit():  # --data key=value arrives as a string
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(host, key, value, f"must be an integer from {low} to {high}")
    return value


def _str(host: str, key: str, get: Callable[[str, Any], Any]) -> str:
    value = _value(host, key, get)
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise ConfigError(host, key, value, "must be a non-empty string without spaces")
    return value


def _optional_path(host: str, key: str, get: Callable[[str, Any], Any]) -> str | None:
    value = _value(host, key, get)
    if value is not None and (not isinstance(value, str) or not value.startswith("/")):
        raise ConfigError(host, key, value, "must be None or an absolute path")
    return value


def upstreams(hosts: Iterable[tuple[str, Callable[[str, Any], Any]]]) -> dict[str, list[Upstream]]:
    """role -> its servers across `hosts` ((name, host.data.get) pairs), in inventory order."""
    found: dict[str, list[Upstream]] = {role: [] for role in ROLES}
    for name, get in hosts:
        address = get("ssh_hostname", None) or name
        for spec in server_specs(name, get):
            found[spec.role].append(Upstream(name, spec.name, address, spec.port))
    return found


def render_config(host: str, config: GatewayConfig, servers: dict[str, list[Upstream]]) -> str:
    """haproxy.cfg for `servers`; a role without servers gets no front. Raises ConfigError
    when no role has a server (a gateway in front of nothing is a mistake in the inventory)."""
    roles = [role for role in ROLES if servers.get(role)]
    if not roles:
        raise ConfigError(host, "gateway upstreams", {}, "no host serves embedding or chat")
    return render(
        TEMPLATE,
        config=config,
        roles=roles,
        servers=servers,
        backend_name=backend_name,
        retry_on=RETRY_ON,
    )


def dropin(config: GatewayConfig) -> str:
    """systemd drop-in for haproxy.service: the API key file as its environment (read by
    systemd as root), so haproxy.cfg names `${VLLM_API_KEY}` and never holds the key."""
    lines = ["# Managed by gpufleet (tasks/gateway.py)", "[Service]"]
    if config.api_key_file:
        lines.append(f"EnvironmentFile={config.api_key_file}")
    return "\n".join(lines) + "\n"
