"""Deploy time vs host count on the sandbox (`make bench`).

For N in 1, 4, 16 sandbox hosts (cluster GPUFLEET_SANDBOX_ID, default 2): the floor (`pyinfra
INV exec -- true`), a first full deploy on fresh hosts, a no-op re-run and a no-op `--dry`, each
timed several times (median; the first deploy once). Also: the commands each host runs in a
no-op run (pyinfra's `--debug` log: one "Running command on HOST" line per SSH command), the
slowest facts of that run (bench/pyinfra_timed.py), and the bytes the sandbox mirror served for
a first deploy with `artifact_cache = "mirror"` (every host downloads) and, on fresh hosts
again, with `"control"` (the control machine downloads once, pushes over SSH).
Writes bench/results/deploy_scaling.json and deploy_scaling.png.

Benchmark, not a test: the figures depend on the machine and its load; the JSON records both
(os.getloadavg before and after each N).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script: `sandbox` (the mirror's log) is importable
RESULTS = REPO / "bench" / "results"
INVENTORY = "inventories/sandbox.py"
COMMAND_LINE = re.compile(r"Running command on (?P<host>[\w.-]+):")
FACT_LINE = re.compile(r"^GPUFLEET-FACT (?P<host>\S+) (?P<fact>\S+) (?P<seconds>[\d.]+)$")
ARTIFACTS = (".run", ".sh")  # driver/CUDA runfiles and the Miniforge installer
TIMED = str(REPO / "bench" / "pyinfra_timed.py")


def _run(args: list[str], env: dict | None = None) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run(
        args, cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"bench: {' '.join(args)} failed:\n{done.stdout[-3000:]}")
    return elapsed, done.stdout


def _pyinfra(*args: str, timed: bool = False) -> tuple[float, str]:
    runner = [TIMED] if timed else ["-m", "pyinfra"]
    return _run([sys.executable, *runner, "-y", INVENTORY, *args])


def _sandbox(*args: str) -> None:
    _run([sys.executable, "-m", "sandbox", *args])


def _mirror_bytes() -> tuple[int, int]:
    """(all bytes, artifact bytes) the sandbox mirror served so far."""
    from sandbox import mirror

    entries = mirror.read_log()
    artifacts = sum(e["bytes"] for e in entries if e["path"].endswith(ARTIFACTS))
    return sum(e["bytes"] for e in entries), artifacts


def _fresh_cluster(n: int) -> None:
    """N fresh hosts; one more try when a busy box boots some too slowly for `up`."""
    _sandbox("down")
    try:
        _sandbox("up", str(n))
    except SystemExit as exc:
        print(f"bench: sandbox up {n} failed, trying once more ({str(exc).splitlines()[0]})")
        _sandbox("down")
        _sandbox("up", str(n))


def _first_deploy(n: int, *data: str) -> tuple[float, dict]:
    """A first deploy on N fresh hosts; its time and the bytes the mirror served for it."""
    _fresh_cluster(n)
    before = _mirror_bytes()
    args = [a for item in data for a in ("--data", item)]
    took, _ = _pyinfra(*args, "deploy.py")
    after = _mirror_bytes()
    return took, {"total": after[0] - before[0], "artifacts": after[1] - before[1]}


def _median(times: list[float]) -> float:
    return round(statistics.median(times), 3)


def commands_per_host(debug_output: str) -> dict[str, int]:
    """Count the SSH commands pyinfra ran on each host, from its `--debug` output."""
    counts: Counter[str] = Counter()
    for line in debug_output.splitlines():
        match = COMMAND_LINE.search(line)
        if match:
            counts[match["host"]] += 1
    return dict(sorted(counts.items()))


def fact_costs(output: str, top: int = 8) -> list[dict]:
    """The facts of a run by total wall time over all hosts: name, count, mean and total s."""
    times: dict[str, list[float]] = {}
    for line in output.splitlines():
        match = FACT_LINE.match(line.strip())
        if match:
            times.setdefault(match["fact"], []).append(float(match["seconds"]))
    rows = [
        {"fact": f, "count": len(t), "mean_s": round(sum(t) / len(t), 4), "total_s": sum(t)}
        for f, t in times.items()
    ]
    for row in rows:
        row["total_s"] = round(row["total_s"], 3)
    return sorted(rows, key=lambda r: r["total_s"], reverse=True)[:top]


def measure(n: int, reps: int, control: bool) -> dict:
    load_before = os.getloadavg()
    first, mirror_bytes = _first_deploy(n, "artifact_cache=mirror")
    floor = [_pyinfra("exec", "--", "true")[0] for _ in range(reps)]
    noop = [_pyinfra("deploy.py")[0] for _ in range(reps)]
    dry = [_pyinfra("--dry", "deploy.py")[0] for _ in range(reps)]
    _, debug = _pyinfra("--debug", "deploy.py", timed=True)
    row = {
        "hosts": n,
        "floor_s": _median(floor),
        "first_deploy_s": round(first, 3),
        "noop_s": _median(noop),
        "noop_dry_s": _median(dry),
        "mirror_bytes_first_deploy": {"mirror": mirror_bytes},
        "noop_commands_per_host": commands_per_host(debug),
        "noop_fact_costs": fact_costs(debug),
        "samples": {"floor": floor, "noop": noop, "dry": dry},
    }
    if control:
        with tempfile.TemporaryDirectory(prefix="gpufleet-bench-cache-") as cache:
            took, control_bytes = _first_deploy(
                n, "artifact_cache=control", f"artifact_cache_dir={cache}"
            )
        row["first_deploy_control_s"] = round(took, 3)
        row["mirror_bytes_first_deploy"]["control"] = control_bytes
    row["loadavg"] = {"before": load_before, "after": os.getloadavg()}
    return row


def ratios(rows: list[dict]) -> dict:
    one = next(r for r in rows if r["hosts"] == 1)
    largest = max(rows, key=lambda r: r["hosts"])
    result = {f"noop({r['hosts']})/noop(1)": round(r["noop_s"] / one["noop_s"], 2) for r in rows}
    result.update({f"noop({r['hosts']})/floor({r['hosts']})": _ratio(r) for r in rows})
    result["targets"] = {
        f"noop({largest['hosts']})/noop(1) <= 1.5": largest["noop_s"] / one["noop_s"] <= 1.5,
        "noop(1)/floor(1) <= 3": one["noop_s"] / one["floor_s"] <= 3,
    }
    return result


def _ratio(row: dict) -> float:
    return round(row["noop_s"] / row["floor_s"], 2)


def table(rows: list[dict]) -> str:
    head = (
        f"{'hosts':>5}  {'floor':>6}  {'first':>7}  {'no-op':>6}  {'dry':>6}  {'cmds/host':>9}"
        f"  {'artifact MB (mirror)':>20}  {'(control)':>9}"
    )
    lines = [head]
    for r in rows:
        cmds = r["noop_commands_per_host"]
        per_host = max(cmds.values()) if cmds else 0
        served = r["mirror_bytes_first_deploy"]
        mb = {k: f"{v['artifacts'] / 1e6:.2f}" for k, v in served.items()}
        lines.append(
            f"{r['hosts']:>5}  {r['floor_s']:>6.2f}  {r['first_deploy_s']:>7.2f}  "
            f"{r['noop_s']:>6.2f}  {r['noop_dry_s']:>6.2f}  {per_host:>9}  "
            f"{mb['mirror']:>20}  {mb.get('control', '-'):>9}"
        )
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hosts = [r["hosts"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in [
        ("floor_s", "floor (exec true)"),
        ("first_deploy_s", "first deploy"),
        ("noop_s", "no-op re-run"),
        ("noop_dry_s", "no-op --dry"),
    ]:
        ax.plot(hosts, [r[key] for r in rows], marker="o", label=label)
    ax.set_xlabel("sandbox hosts")
    ax.set_ylabel("seconds")
    ax.set_xscale("log", base=2)
    ax.set_title("gpufleet deploy time vs host count")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="1,4,16", help="comma-separated host counts")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--no-control", action="store_true", help="skip the artifact_cache=control deploys"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("GPUFLEET_SANDBOX_ID", "2")
    started = time.monotonic()
    rows = []
    for n in args.hosts.split(","):
        rows.append(measure(int(n), args.reps, not args.no_control))
        _write(rows, args, started, done=False)  # a later N failing keeps what was measured
    _sandbox("down")
    result = _write(rows, args, started, done=True)
    print(table(rows))
    print(json.dumps(result["ratios"]))
    return 0


def _write(rows: list[dict], args: argparse.Namespace, started: float, done: bool) -> dict:
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "node": platform.node(),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1),
        },
        "sandbox_id": os.environ["GPUFLEET_SANDBOX_ID"],
        "reps": args.reps,
        "bench_s": round(time.monotonic() - started, 1),
        "complete": done,
        "rows": rows,
        "ratios": ratios(rows),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "deploy_scaling.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(rows, RESULTS / "deploy_scaling.png")
    return result


if __name__ == "__main__":
    sys.exit(main())
