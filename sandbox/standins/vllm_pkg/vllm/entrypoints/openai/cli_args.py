"""Stand-in for vLLM's server flags (sandbox only). Only the flags gpufleet's users tune, with
the real names, types and choices; which exist depends on the installed version, with the
boundaries recorded in gpufleet/matrix.yaml `vllm_flags`: `--task` until 0.13.0 (gone there:
gpustack/gpustack#3991), `--runner`/`--convert` from 0.10.1 (vllm-project/vllm#21470).
"""

import argparse

DTYPES = ["auto", "half", "float16", "bfloat16", "float", "float32"]
TASKS = ["auto", "generate", "embedding", "embed", "classify", "score", "reward"]
RUNNERS = ["auto", "generate", "pooling", "draft"]
CONVERTS = ["auto", "none", "embed", "classify", "reward"]


def _release(version: str) -> tuple:
    parts = []
    for piece in version.split("+")[0].split("."):
        digits = "".join(c for c in piece if c.isdigit()) if piece[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def make_arg_parser(parser: argparse.ArgumentParser, version: str, positional_model=False):
    release = _release(version)
    if not positional_model:
        parser.add_argument("--model", type=str, default="facebook/opt-125m")
    parser.add_argument("--host", type=str, default=None)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--api-key", type=str, default=None)
    parser.add_argument("--served-model-name", nargs="+", type=str, default=None)
    parser.add_argument("--dtype", type=str, choices=DTYPES, default="auto")
    parser.add_argument("--max-model-len", type=int, default=None)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    parser.add_argument("--max-num-batched-tokens", type=int, default=None)
    parser.add_argument("--max-num-seqs", type=int, default=None)
    parser.add_argument("--tensor-parallel-size", "-tp", type=int, default=1)
    parser.add_argument("--enable-chunked-prefill", action="store_true")
    parser.add_argument("--enforce-eager", action="store_true")
    parser.add_argument("--trust-remote-code", action="store_true")
    parser.add_argument("--disable-log-requests", action="store_true")
    parser.add_argument("--uvicorn-log-level", type=str, default="info")
    if release < (0, 13):
        parser.add_argument("--task", type=str, choices=TASKS, default="auto")
    if release >= (0, 10, 1):
        parser.add_argument("--runner", type=str, choices=RUNNERS, default="auto")
        parser.add_argument("--convert", type=str, choices=CONVERTS, default="auto")
    return parser
