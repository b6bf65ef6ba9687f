"""Serving benchmark per host and stack: the notes' benchmark_serving.py run, kept as history.

    >>> percentile([10.0, 20.0, 30.0, 40.0], 50)
    25.0
    >>> regressions({"output_throughput": 100.0, "ttft_ms": {"p50": 10.0}},
    ...             {"output_throughput": 80.0, "ttft_ms": {"p50": 10.5}}, 10)
    ['output tokens/s -20.0%']

`gpufleet bench-serving INVENTORY` drives every server of every host through its OpenAI
endpoint with `bench_workload` (gpufleet/benchclient.py: random prompts, Poisson arrivals at
request_rate, at most max_concurrency in flight) and appends one JSON line per server to
`bench/serving/<host>.jsonl`: the stack (env name, vLLM, GPU), request throughput, output
tokens/s, TTFT / TPOT / end-to-end latency (mean, p50, p99, ms) and errors. `--compare` prints,
per host and server, the last run of each of the last two stacks side by side.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from gpufleet.benchclient import Result, Workload, run_workload
from gpufleet.config import ConfigError, HostConfig
from gpufleet.plan import plan_host
from gpufleet.serve import server_specs
from gpufleet.table import render_table as _table

API_KEY_ENV = "VLLM_API_KEY"  # on the control machine, when the servers have api_key_file


def percentile(values: list[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, as benchmark_serving)."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _stats(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ms = [v * 1000 for v in values]
    return {
        "mean": round(statistics.fmean(ms), 3),
        "p50": round(percentile(ms, 50), 3),
        "p99": round(percentile(ms, 99), 3),
    }


def summarize(results: list[Result], duration_s: float) -> dict[str, Any]:
    """benchmark_serving's metrics: TPOT = (latency - TTFT) / (output tokens - 1) per request."""
    done = [r for r in results if r.ok]
    tokens = sum(r.output_tokens for r in done)
    tpot = [(r.latency_s - r.ttft_s) / (r.output_tokens - 1) for r in done if r.output_tokens > 1]
    errors = [r.error for r in results if not r.ok]
    return {
        "completed": len(done),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "duration_s": round(duration_s, 3),
        "request_throughput": round(len(done) / duration_s, 3) if duration_s else 0.0,
        "output_throughput": round(tokens / duration_s, 3) if duration_s else 0.0,
        "ttft_ms": _stats([r.ttft_s for r in done if r.ttft_s is not None]),
        "tpot_ms": _stats(tpot),
        "latency_ms": _stats([r.latency_s for r in done]),
    }


def bench_host(name: str, get, limit_servers: set[str] | None = None, num_prompts=None) -> list:
    """Benchmark every server of one inventory host; one record per server."""
    cfg = HostConfig.from_data(name, get)
    plan = plan_host(cfg)
    if not plan.ok:
        raise ConfigError(name, "stack", None, plan.error or "no stack")
    values = dict(cfg.bench_workload)
    if num_prompts:
        values["num_prompts"] = num_prompts
    workload = Workload(**values)
    address = get("ssh_hostname", None) or name
    records = []
    for spec in server_specs(name, get):
        if limit_servers and spec.name not in limit_servers:
            continue
        url = f"http://{address}:{spec.port}"
        results, duration = asyncio.run(
            run_workload(
                url, spec.served_model_name, spec.role, workload, os.environ.get(API_KEY_ENV)
            )
        )
        records.append(
            {
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "host": name,
                "server": spec.name,
                "role": spec.role,
                "gpu": plan.gpu.name,
                "stack": plan.stack.env_name,
                "vllm": plan.stack.vllm,
                "workload": workload.as_dict(),
                **summarize(results, duration),
            }
        )
    return records


def append(results_dir: str, record: dict) -> Path:
    path = Path(results_dir) / f"{record['host']}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
    return path


def history(results_dir: str, host: str) -> list[dict]:
    path = Path(results_dir) / f"{host}.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_inventory(
    inventory: str,
    results_dir: str | None = None,
    limit: set[str] | None = None,
    num_prompts: int | None = None,
    data: dict | None = None,
) -> list[dict]:
    from gpufleet.moe import inventory_hosts

    records = []
    for name, get in inventory_hosts(inventory, limit, data):
        folder = results_dir or HostConfig.from_data(name, get).bench_results_dir
        for record in bench_host(name, get, num_prompts=num_prompts):
            append(folder, record)
            records.append(record)
    return records


# --- Before / after ---------------------------------------------------------------------------


def last_two_stacks(records: list[dict]) -> dict[str, tuple[dict, dict]]:
    """server -> (before, after): the last record of each of its last two distinct stacks."""
    out = {}
    for server in dict.fromkeys(r["server"] for r in records):
        latest: dict[str, dict] = {}
        for record in (r for r in records if r["server"] == server):
            latest.pop(record["stack"], None)  # re-insert: dict order = order of last run
            latest[record["stack"]] = record
        if len(latest) >= 2:
            before, after = list(latest.values())[-2:]
            out[server] = (before, after)
    return out


def regressions(before: dict, after: dict, threshold_pct: float) -> list[str]:
    """What got worse by more than threshold_pct: output tokens/s down, TTFT/TPOT p50 up."""
    found = []
    old, new = before.get("output_throughput"), after.get("output_throughput")
    if old and new is not None and (new - old) / old * 100 < -threshold_pct:
        found.append(f"output tokens/s {(new - old) / old * 100:+.1f}%")
    for key, label in (("ttft_ms", "TTFT p50"), ("tpot_ms", "TPOT p50")):
        old_p = (before.get(key) or {}).get("p50")
        new_p = (after.get(key) or {}).get("p50")
        if old_p and new_p is not None and (new_p - old_p) / old_p * 100 > threshold_pct:
            found.append(f"{label} {(new_p - old_p) / old_p * 100:+.1f}%")
    return found


_METRICS = (
    ("req/s", lambda r: r["request_throughput"]),
    ("out tok/s", lambda r: r["output_throughput"]),
    ("TTFT mean/p50/p99 ms", lambda r: _triple(r.get("ttft_ms"))),
    ("TPOT mean/p50/p99 ms", lambda r: _triple(r.get("tpot_ms"))),
    ("errors", lambda r: r["errors"]),
)


def _triple(stats: dict | None) -> str:
    return "-" if not stats else f"{stats['mean']:.1f}/{stats['p50']:.1f}/{stats['p99']:.1f}"


def render_table(records: list[dict]) -> str:
    headers = ("host", "server", "stack", *(m for m, _ in _METRICS))
    rows = [
        (r["host"], r["server"], r["stack"], *(str(f(r)) for _, f in _METRICS)) for r in records
    ]
    return _table(rows, headers)


def render_compare(results_dir: str, limit: set[str] | None = None, threshold: float = 10) -> str:
    """Per host and server: before (older stack) -> after (newer stack), one row per metric."""
    rows = []
    for path in sorted(Path(results_dir).glob("*.jsonl")):
        if limit and path.stem not in limit:
            continue
        for server, (before, after) in last_two_stacks(history(results_dir, path.stem)).items():
            marks = regressions(before, after, threshold)
            for label, metric in _METRICS:
                rows.append((path.stem, server, label, str(metric(before)), str(metric(after))))
            rows.append((path.stem, server, "stacks", before["stack"], after["stack"]))
            rows.append(
                (
                    path.stem,
                    server,
                    "verdict",
                    "",
                    "REGRESSION: " + ", ".join(marks) if marks else "ok",
                )
            )
    if not rows:
        return f"no host in {results_dir} has results from two stacks yet"
    return _table(rows, ("host", "server", "metric", "before", "after"))


# --- After a rollout (tasks/bench.py) ----------------------------------------------------------


def pending(results_dir: str, host: str, stack: str, servers: list[str]) -> list[str]:
    """The servers whose last benchmark was not on `stack`: what a post-rollout run measures."""
    last = {r["server"]: r["stack"] for r in history(results_dir, host)}
    return [s for s in servers if last.get(s) != stack]


def post_rollout(
    host_name: str, get, results_dir: str, servers: list[str], threshold: float
) -> None:
    """Benchmark `servers` of `host`, append the records, log a REGRESSION line per server that
    got worse than its previous stack by more than `threshold` percent (the record keeps it)."""
    from pyinfra import logger

    for record in bench_host(host_name, get, set(servers)):
        before = [r for r in history(results_dir, host_name) if r["server"] == record["server"]]
        record["regression"] = regressions(before[-1], record, threshold) if before else []
        if before and before[-1]["stack"] == record["stack"]:
            record["regression"] = []
        append(results_dir, record)
        line = f"{host_name}: {record['server']} on {record['stack']}: " + _summary(record)
        if record["regression"]:
            logger.warning(
                f"{line}: REGRESSION vs {before[-1]['stack']}: " + ", ".join(record["regression"])
            )
        else:
            logger.info(line)


def _summary(record: dict) -> str:
    return (
        f"{record['request_throughput']} req/s, {record['output_throughput']} tok/s, "
        f"TTFT {_triple(record.get('ttft_ms'))} ms, TPOT {_triple(record.get('tpot_ms'))} ms, "
        f"{record['errors']} errors"
    )
