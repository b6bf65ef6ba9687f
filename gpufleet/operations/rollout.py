"""Roll one vLLM server to a new env, unit or env file: switch, restart, gate, or roll back.

pyinfra runs each operation across all hosts before the next one, so the whole sequence is ONE
operation, called with `_serial=True` (or `_parallel=max_unavailable`): only that many hosts
restart at once. What was decided while collecting (the diffs, "env A -> env B") is printed by
`--dry --diff`; the work itself is a callback run at execution time, because only then is it
known whether an earlier host failed its gate. Once one has, no further host is switched in
this run (per pyinfra State), and each failure names the rolled / rolled back / untouched hosts.
With a `drain` (a `gateway` group in the inventory), the server leaves the gateway's balancer
before its restart and comes back once a gate passed (gpufleet.drain).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from pyinfra import host, logger, state
from pyinfra.api import FunctionCommand, StringCommand, operation
from pyinfra.facts.files import FileContents, Link, Sha1File

from gpufleet.drain import Drain, DrainError, balancers, put_back, take_out
from gpufleet.facts import host as host_facts

STAMP = ".gpufleet-stamp.json"


@dataclass(frozen=True)
class Release:
    """Everything one server should run with, rendered on the control machine."""

    service: str  # server name: unit gpufleet-vllm-<service>
    unit: str
    unit_path: str
    unit_text: str
    env_file: str
    env_text: str
    link: str  # <gpufleet_root>/services/<service>/current
    target_env: str
    gate: tuple[str, ...]  # argv of the health check on the host

    def __repr__(self) -> str:  # short in pyinfra's debug output and test scenarios
        return f"Release({self.service} -> {self.target_env})"


@dataclass
class RolloutLog:
    """One run's rollout, across hosts and operations (canary first, then the fleet)."""

    planned: dict[str, None] = field(default_factory=dict)
    rolled: list[str] = field(default_factory=list)
    rolled_back: list[str] = field(default_factory=list)
    failed: str | None = None

    def summary(self) -> str:
        done = set(self.rolled) | set(self.rolled_back)
        untouched = [h for h in self.planned if h not in done]
        parts = (("rolled", self.rolled), ("rolled back", self.rolled_back))
        text = "; ".join(
            f"{label}: {', '.join(dict.fromkeys(hosts)) or '-'}" for label, hosts in parts
        )
        return f"{text}; untouched: {', '.join(untouched) or '-'}"


def log_for(run_state: Any) -> RolloutLog:
    """This run's log, kept on the pyinfra State itself (so it ends with the run)."""
    log = getattr(run_state, "gpufleet_rollout", None)
    if log is None:
        log = RolloutLog()
        setattr(run_state, "gpufleet_rollout", log)  # noqa: B010 (State proxies setattr)
    return log


@operation()
def rollout(release: Release, drain: Drain | None = None):
    """
    Point a server at `release`, restart it and gate it on real requests; roll back on failure.

    + release: the unit, env file and env the server should run (gpufleet.operations.rollout)
    + drain: where the server sits in the gateway's balancer (gpufleet.drain), or None

    Yields nothing when the unit, the env file and the `current` link already match.

    **Example:**

    .. code:: python

        rollout(name="Roll out vLLM embedding", release=release, _serial=True)
    """
    link = host_facts.get(Link, path=release.link) or {}
    current = link.get("link_target")
    changed = [
        (path, text)
        for path, text in (
            (release.unit_path, release.unit_text),
            (release.env_file, release.env_text),
        )
        if host_facts.get(Sha1File, path=path) != _sha1(text)
    ]
    if current == release.target_env and not changed:
        return
    if current != release.target_env:
        host.log(f"{release.unit}: env {_env_name(current)} -> {_env_name(release.target_env)}")
    if state.config.DIFF:
        _log_diffs(changed)
    if drain is not None:
        host.log(f"{release.unit}: drained from {drain.backend}/{drain.server} while it restarts")
    log_for(state).planned[host.name] = None
    yield FunctionCommand(_apply, (release,), {"drain": drain} if drain else {})


def _sha1(text: str) -> str:
    import hashlib

    return hashlib.sha1(text.encode()).hexdigest()


def _env_name(path: str | None) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1] if path else "(none)"


def _log_diffs(changed: list[tuple[str, str]]) -> None:
    from pyinfra.operations.util.files import generate_color_diff

    for path, text in changed:
        old = host_facts.get(FileContents, path=path)
        verb = "modify" if old is not None else "create"
        host.log(f"Will {verb} {path}")
        current = [line + "\n" for line in old or []]
        for line in generate_color_diff(current, text.splitlines(keepends=True)):
            logger.info("  %s", line)


def _apply(state, host, release: Release, drain: Drain | None = None) -> bool:  # pyinfra: by name
    """At execution time: switch -> restart -> gate -> (rollback). False fails the host."""
    run_host = host
    log = log_for(state)
    if log.failed:
        _error(
            run_host, f"{release.unit} not switched: {log.failed} failed its gate ({log.summary()})"
        )
        return False
    sh = _Shell(run_host)
    ok, _out = sh(f"test -f {_q(release.target_env + '/' + STAMP)}")
    if not ok:
        rule = "has no completion stamp (not built, or its post-install check failed)"
        _error(run_host, f"{release.unit}: env {release.target_env} {rule}; nothing switched")
        log.failed = run_host.name
        return False
    _, previous = sh(f"readlink {_q(release.link)} || true")
    previous = previous.strip() or None
    gateways = _take_out(state, run_host, release, drain)
    if gateways is False:
        log.failed = run_host.name
        return False
    sh(_backup_script(release))
    for path, text in (
        (release.unit_path, release.unit_text),
        (release.env_file, release.env_text),
    ):
        sh(f"mkdir -p {_q(path.rsplit('/', 1)[0])}")
        if not run_host.put_file(BytesIO(text.encode()), path):
            _error(run_host, f"{release.unit}: could not upload {path}")
            return False
    sh(_switch(release.link, release.target_env) + " && " + _restart(release.unit))
    verdict = _gate(sh, release)
    if verdict["ok"]:
        sh(_cleanup_script(release))
        run_host.log(
            f"{release.unit}: healthy on {_env_name(release.target_env)} ({verdict['elapsed_s']}s)"
        )
        log.rolled.append(run_host.name)
        return _put_back(run_host, release, drain, gateways)
    journal = sh(f"journalctl -u {_q(release.unit)} -n 20 --no-pager -o cat || true")[1]
    log.failed = run_host.name
    log.rolled_back.append(run_host.name)
    back = _rollback(sh, release, previous)
    if back.endswith("(healthy again)"):
        _put_back(run_host, release, drain, gateways)
    _error(
        run_host,
        f"{release.unit}: env {_env_name(release.target_env)} failed its health gate at "
        f"{verdict['step']}: {verdict['error']}; {back}; rollout stopped ({log.summary()})",
    )
    for line in journal.splitlines()[-20:]:
        logger.error("    %s", line)
    return False


def _take_out(state, run_host, release: Release, drain: Drain | None):
    """The gateways the server was drained on ([] without a drain), or False: not drained."""
    if drain is None:
        return []
    try:
        gateways = balancers(state, drain)
        take_out(state, gateways, drain, run_host.log)
    except Exception as exc:  # DrainError, ConnectError, a malformed answer: all one line
        _error(run_host, f"{release.unit}: {exc}; nothing switched")
        return False
    return gateways


def _put_back(run_host, release: Release, drain: Drain | None, gateways: list) -> bool:
    if drain is None:
        return True
    try:
        put_back(gateways, drain, run_host.log)
    except (DrainError, KeyError, ValueError) as exc:
        _error(run_host, f"{release.unit}: healthy but still drained: {exc}")
        return False
    return True


def _rollback(sh, release: Release, previous: str | None) -> str:
    sh(_restore_script(release))
    if previous is None:
        sh(
            f"systemctl disable -q --now {_q(release.unit)}; rm -f {_q(release.link)}; "
            "systemctl daemon-reload"
        )
        return "no previous env: server stopped and removed"
    sh(_switch(release.link, previous) + " && " + _restart(release.unit))
    verdict = _gate(sh, release)
    if verdict["ok"]:
        return f"rolled back to {_env_name(previous)} (healthy again)"
    return f"rolled back to {_env_name(previous)} but it is NOT healthy: {verdict['error']}"


def _gate(sh, release: Release) -> dict:
    _, out = sh(shlex.join(release.gate))
    lines = [line for line in out.splitlines() if line.startswith("{")]
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        return {"ok": False, "step": "gate", "error": out.strip()[-300:] or "no output"}


class _Shell:
    def __init__(self, run_host):
        self.host = run_host

    def __call__(self, command: str) -> tuple[bool, str]:
        ok, output = self.host.run_shell_command(StringCommand("sh", "-c", _q(command)))
        return ok, "\n".join(line.line for line in output)


def _error(run_host, message: str) -> None:
    run_host.log_styled(message, fg="red", log_func=logger.error)


def _q(value: str) -> str:
    return shlex.quote(value)


def _switch(link: str, target: str) -> str:
    tmp = link + ".tmp"
    parent = link.rsplit("/", 1)[0]
    return f"mkdir -p {_q(parent)} && ln -sfn {_q(target)} {_q(tmp)} && mv -T {_q(tmp)} {_q(link)}"


def _restart(unit: str) -> str:
    return (
        f"systemctl daemon-reload && systemctl enable -q {_q(unit)} && systemctl restart {_q(unit)}"
    )


def _files(release: Release) -> str:
    return f"{_q(release.unit_path)} {_q(release.env_file)}"


def _backup_script(release: Release) -> str:
    return (
        f'for f in {_files(release)}; do if [ -e "$f" ]; then cp -p "$f" "$f.gpufleet-prev"; '
        'else rm -f "$f.gpufleet-prev"; fi; done'
    )


def _restore_script(release: Release) -> str:
    return (
        f'for f in {_files(release)}; do if [ -e "$f.gpufleet-prev" ]; then '
        'mv -f "$f.gpufleet-prev" "$f"; else rm -f "$f"; fi; done'
    )


def _cleanup_script(release: Release) -> str:
    return f'for f in {_files(release)}; do rm -f "$f.gpufleet-prev"; done'
