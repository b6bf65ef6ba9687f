"""Gateway: one OpenAI-compatible HAProxy front per serving role, on the `gateway` group.

HAProxy (Debian's package) balances each role (embedding, chat) over that role's servers from
the whole inventory (leastconn), checks them actively on GET /health, retries a request only
when its connection failed (embeddings also on an empty answer), and checks the API key at the
front when `gateway_api_key_file` is set (the key reaches haproxy through systemd's
environment, never haproxy.cfg). A new config is validated with `haproxy -c` before it replaces
the old one, then reloaded in master-worker mode: listeners stay open, in-flight requests
finish. The rollout (tasks/services.py) drains servers through its admin socket.

It does not include tasks/preflight.py: a gateway needs no GPU and no stack. Run it on its own:

    pyinfra -y inventories/lab.py tasks/gateway.py --limit gateway
"""

from io import StringIO

from pyinfra import host, inventory
from pyinfra.api.exceptions import PyinfraError
from pyinfra.operations import files, systemd

from gpufleet.config import ConfigError
from gpufleet.gateway import (
    CONFIG_PATH,
    DROPIN_PATH,
    GatewayConfig,
    dropin,
    render_config,
    upstreams,
)
from gpufleet.operations import gateway

if "gateway" in host.groups:
    try:
        config = GatewayConfig.from_data(host.name, host.data.get)
        servers = upstreams((h.name, h.data.get) for h in inventory)
        text = render_config(host.name, config, servers)
    except (ConfigError, ValueError) as exc:
        message = str(exc) if str(exc).startswith(host.name) else f"{host.name}: {exc}"
        raise PyinfraError(message) from None

    gateway.packages(name="Install HAProxy", names=["haproxy"])
    if config.api_key_file:
        gateway.api_key_file(name="API key file is root-only", path=config.api_key_file)
    unit = files.put(
        name="HAProxy environment (API key file)",
        src=StringIO(dropin(config)),
        dest=DROPIN_PATH,
        mode="644",
        create_remote_dir=True,
    )
    systemd.service(
        name="Restart HAProxy for its new environment",
        service="haproxy",
        restarted=True,
        daemon_reload=True,
        _if=unit.did_change,
    )
    gateway.config(name="HAProxy config (validated, then reloaded)", text=text, path=CONFIG_PATH)
