"""The benchmark's async HTTP client (httpx): one workload against one OpenAI-compatible server.

    >>> w = Workload(input_len=4, output_len=8, request_rate=50, max_concurrency=2, num_prompts=3)
    >>> [len(p.split()) for p in prompts(w)]
    [4, 4, 4]

What vLLM's benchmarks/benchmark_serving.py does with `--dataset-name random --request-rate R
--max-concurrency C`: `num_prompts` random prompts of `input_len` words (no tokenizer here: a
word is about a token; the server's usage counts are what is recorded), sent with Poisson
inter-arrival times at `request_rate` per second, at most `max_concurrency` in flight. Chat
servers get streamed `/v1/chat/completions` with `max_tokens = output_len` and `ignore_eos`
(vLLM's extension, so every answer is output_len tokens): TTFT is the first content chunk, the
end-to-end latency the last. Embedding servers get `/v1/embeddings` (no tokens out: TTFT/TPOT
stay empty, latency is recorded).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import asdict, dataclass

import httpx

_WORDS = [
    "gpu",
    "volta",
    "pascal",
    "tensor",
    "kernel",
    "cache",
    "token",
    "batch",
    "model",
    "serve",
    "fleet",
    "driver",
    "cuda",
    "torch",
    "stream",
    "prompt",
    "decode",
    "prefill",
    "memory",
    "layer",
    "expert",
    "router",
    "weight",
    "shard",
    "rank",
]
TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Workload:
    input_len: int
    output_len: int
    request_rate: float
    max_concurrency: int
    num_prompts: int
    seed: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Result:
    ok: bool
    latency_s: float = 0.0
    ttft_s: float | None = None
    output_tokens: int = 0
    error: str | None = None


def prompts(workload: Workload) -> list[str]:
    rng = random.Random(workload.seed)
    return [
        " ".join(rng.choice(_WORDS) for _ in range(int(workload.input_len)))
        for _ in range(int(workload.num_prompts))
    ]


async def _chat(client: httpx.AsyncClient, url: str, model: str, prompt: str, n: int) -> Result:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": n,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    start = time.perf_counter()
    ttft, chunks, usage = None, 0, None
    async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        if response.status_code != 200:
            text = (await response.aread()).decode(errors="replace")[:200]
            return Result(False, error=f"HTTP {response.status_code}: {text}")
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            data = json.loads(line[6:])
            usage = data.get("usage") or usage
            if any((c.get("delta") or {}).get("content") for c in data.get("choices") or []):
                chunks += 1
                if ttft is None:
                    ttft = time.perf_counter() - start
    latency = time.perf_counter() - start
    tokens = (usage or {}).get("completion_tokens") or chunks
    if ttft is None:
        return Result(False, latency, error="the stream carried no content")
    return Result(True, latency, ttft, tokens)


async def _embed(client: httpx.AsyncClient, url: str, model: str, prompt: str) -> Result:
    start = time.perf_counter()
    response = await client.post(f"{url}/v1/embeddings", json={"model": model, "input": prompt})
    latency = time.perf_counter() - start
    if response.status_code != 200:
        return Result(False, latency, error=f"HTTP {response.status_code}: {response.text[:200]}")
    return Result(True, latency)


async def run_workload(
    url: str,
    model: str,
    role: str,
    workload: Workload,
    api_key: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[list[Result], float]:
    """(one Result per prompt, wall-clock seconds of the whole run); `transport` for tests."""
    rng = random.Random(workload.seed + 1)
    limit = asyncio.Semaphore(int(workload.max_concurrency))
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    pool = httpx.Limits(max_connections=int(workload.max_concurrency))

    async def one(client: httpx.AsyncClient, prompt: str) -> Result:
        async with limit:
            try:
                if role == "embedding":
                    return await _embed(client, url, model, prompt)
                return await _chat(client, url, model, prompt, int(workload.output_len))
            except (httpx.HTTPError, ValueError) as exc:
                return Result(False, error=f"{type(exc).__name__}: {exc}")

    options = {"headers": headers, "timeout": TIMEOUT_S, "limits": pool, "transport": transport}
    async with httpx.AsyncClient(**options) as client:
        start = time.perf_counter()
        tasks = []
        for prompt in prompts(workload):
            tasks.append(asyncio.create_task(one(client, prompt)))
            await asyncio.sleep(rng.expovariate(workload.request_rate))
        results = await asyncio.gather(*tasks)
    return list(results), time.perf_counter() - start
