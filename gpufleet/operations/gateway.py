"""Gateway operations: HAProxy from the distribution, its config validated before a reload.

Each yields nothing when the host already matches, so `--dry` lists only real changes.
"""

from __future__ import annotations

import hashlib
import shlex
from io import BytesIO

from pyinfra import host, logger, state
from pyinfra.api import FileUploadCommand, OperationError, operation
from pyinfra.facts.files import File, FileContents, Sha1File
from pyinfra.facts.server import Command

from gpufleet.operations import apt

ROOT_ONLY_MODES = (400, 600)


@operation()
def packages(names: list[str]):
    """
    Install apt packages that are missing, updating the lists only then.

    + names: Debian package names (the gateway's ``haproxy``)

    **Example:**

    .. code:: python

        packages(name="Install HAProxy", names=["haproxy"])
    """
    yield from apt.packages._inner(names=names)


@operation()
def api_key_file(path: str):
    """
    Check (change nothing) that the front's API key file is root-only with a
    ``VLLM_API_KEY=<key>`` line; the key itself is never read back here.

    + path: the file on the gateway host (``gateway_api_key_file``)
    """
    info = host.get_fact(File, path=path)
    if not info:
        raise OperationError(f"{host.name}: gateway_api_key_file={path!r}: no such file")
    if info.get("user") != "root" or info.get("mode") not in ROOT_ONLY_MODES:
        mode = info.get("mode")
        raise OperationError(
            f"{host.name}: gateway_api_key_file={path!r}: owner {info.get('user')} mode "
            f"{mode}: must be root-only (root, 600 or 400)"
        )
    count = host.get_fact(Command, command=f"grep -c '^VLLM_API_KEY=.' {shlex.quote(path)} || :")
    if str(count).strip() != "1":
        raise OperationError(
            f"{host.name}: gateway_api_key_file={path!r}: needs exactly one VLLM_API_KEY=<key> line"
        )
    return
    yield  # a generator that checks only


@operation()
def config(text: str, path: str, service: str = "haproxy"):
    """
    Write ``path`` only after ``haproxy -c`` accepts it, then reload ``service`` (HAProxy's
    master-worker reload: listeners stay open, old workers finish their requests).

    + text: the rendered config (gpufleet.gateway.render_config)
    + path: where the service reads it (``/etc/haproxy/haproxy.cfg``)
    + service: the systemd unit to reload (started if it is not running)

    **Example:**

    .. code:: python

        config(name="HAProxy config", text=text, path="/etc/haproxy/haproxy.cfg")
    """
    if host.get_fact(Sha1File, path=path) == hashlib.sha1(text.encode()).hexdigest():
        host.noop(f"{path} is current")
        return
    if state.config.DIFF:
        _log_diff(path, text)
    tmp = f"{path}.gpufleet-new"
    yield FileUploadCommand(BytesIO(text.encode()), tmp)
    q_tmp, q_path, q_service = shlex.quote(tmp), shlex.quote(path), shlex.quote(service)
    # an invalid config never replaces the running one: haproxy names the line, we exit 1
    yield f"haproxy -c -q -f {q_tmp} || {{ rm -f {q_tmp}; exit 1; }}"
    yield f"chmod 644 {q_tmp} && mv -f {q_tmp} {q_path}"
    yield (
        f"if systemctl is-active -q {q_service}; then systemctl reload {q_service}; "
        f"else systemctl enable -q --now {q_service}; fi"
    )


def _log_diff(path: str, text: str) -> None:
    from pyinfra.operations.util.files import generate_color_diff

    old = host.get_fact(FileContents, path=path)
    host.log(f"Will {'modify' if old is not None else 'create'} {path}")
    current = [line + "\n" for line in old or []]
    for line in generate_color_diff(current, text.splitlines(keepends=True)):
        logger.info("  %s", line)
