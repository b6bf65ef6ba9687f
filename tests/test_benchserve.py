"""Serving benchmark (gpufleet/benchserve.py, benchclient.py): the client's timing against a
scripted streaming server, the metrics, the history file and the before/after comparison."""

import asyncio
import json

import httpx
import pytest

from gpufleet import benchserve
from gpufleet.benchclient import Result, Workload, prompts, run_workload

WORKLOAD = Workload(input_len=8, output_len=4, request_rate=1000, max_concurrency=2, num_prompts=6)


def _sse(*events) -> bytes:
    return b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in events) + b"data: [DONE]\n\n"


def _server(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    assert body["stream"] and body["ignore_eos"] and body["max_tokens"] == 4
    assert len(body["messages"][0]["content"].split()) == 8
    assert request.headers["Authorization"] == "Bearer k"
    chunks = [{"choices": [{"delta": {"content": "w "}}]} for _ in range(4)]
    usage = {"choices": [], "usage": {"completion_tokens": 4}}
    return httpx.Response(200, content=_sse(*chunks, usage))


def test_chat_workload_counts_tokens_and_times_the_first_one():
    transport = httpx.MockTransport(_server)
    results, duration = asyncio.run(
        run_workload("http://h:1", "chat", "chat", WORKLOAD, "k", transport)
    )
    assert len(results) == 6 and all(r.ok and r.output_tokens == 4 for r in results)
    assert all(0 <= r.ttft_s <= r.latency_s for r in results) and duration > 0


def test_errors_are_counted_not_raised():
    transport = httpx.MockTransport(lambda r: httpx.Response(404, json={"message": "no model"}))
    results, duration = asyncio.run(
        run_workload("http://h:1", "m", "chat", WORKLOAD, None, transport)
    )
    summary = benchserve.summarize(results, duration)
    assert summary["errors"] == 6 and summary["completed"] == 0
    assert summary["first_error"].startswith("HTTP 404") and summary["ttft_ms"] is None


def test_embedding_workload_records_latency_only():
    seen = []
    transport = httpx.MockTransport(
        lambda r: seen.append(r.url.path) or httpx.Response(200, json={"data": []})
    )
    results, _ = asyncio.run(
        run_workload("http://h:1", "e", "embedding", WORKLOAD, None, transport)
    )
    assert set(seen) == {"/v1/embeddings"} and all(r.ok and r.ttft_s is None for r in results)


def test_prompts_are_random_but_reproducible():
    assert prompts(WORKLOAD) == prompts(WORKLOAD)
    assert len(set(prompts(WORKLOAD))) > 1


def test_summary_metrics_as_benchmark_serving_defines_them():
    results = [Result(True, 1.0, 0.1, 10), Result(True, 2.0, 0.2, 19), Result(False, error="x")]
    s = benchserve.summarize(results, 4.0)
    assert (s["completed"], s["errors"], s["request_throughput"]) == (2, 1, 0.5)
    assert s["output_throughput"] == pytest.approx(29 / 4, abs=1e-3)
    assert s["tpot_ms"]["mean"] == pytest.approx(100.0)  # (1.0-0.1)/9 and (2.0-0.2)/18
    assert s["ttft_ms"] == {"mean": 150.0, "p50": 150.0, "p99": 199.0}


def _record(stack: str, tps: float, ttft: float = 10.0, server: str = "chat") -> dict:
    return {
        "host": "gpu01", "server": server, "stack": stack, "request_throughput": 1.0,
        "output_throughput": tps, "ttft_ms": {"mean": ttft, "p50": ttft, "p99": ttft},
        "tpot_ms": {"mean": 2.0, "p50": 2.0, "p99": 2.0}, "errors": 0,
    }  # fmt: skip


def test_compare_takes_the_last_run_of_each_of_the_last_two_stacks(tmp_path):
    for record in (_record("A", 50), _record("B", 100), _record("B", 90), _record("A", 99)):
        benchserve.append(str(tmp_path), record)
    pairs = benchserve.last_two_stacks(benchserve.history(str(tmp_path), "gpu01"))
    before, after = pairs["chat"]
    assert (before["stack"], before["output_throughput"]) == ("B", 90)
    assert (after["stack"], after["output_throughput"]) == ("A", 99)
    text = benchserve.render_compare(str(tmp_path))
    assert "gpu01  chat    stacks" in text and "verdict" in text and "REGRESSION" not in text


def test_a_regression_beyond_the_threshold_is_marked(tmp_path):
    benchserve.append(str(tmp_path), _record("A", 100, ttft=10))
    benchserve.append(str(tmp_path), _record("B", 80, ttft=10.5))
    text = benchserve.render_compare(str(tmp_path), threshold=10)
    assert "REGRESSION: output tokens/s -20.0%" in text
    assert benchserve.regressions(_record("A", 100, 10), _record("B", 95, 12), 10) == [
        "TTFT p50 +20.0%"
    ]
    assert benchserve.render_compare(str(tmp_path / "none")).startswith("no host in")


def test_pending_servers_are_those_not_yet_measured_on_the_stack(tmp_path):
    benchserve.append(str(tmp_path), _record("A", 1, server="chat"))
    assert benchserve.pending(str(tmp_path), "gpu01", "A", ["chat", "embed"]) == ["embed"]
    assert benchserve.pending(str(tmp_path), "gpu01", "B", ["chat"]) == ["chat"]
