"""Stand-in for vLLM's OpenAI-compatible server (sandbox only: no GPU, no model weights are
run). Stdlib only. Serves GET /health, GET /v1/models, POST /v1/embeddings, /v1/chat/completions
and /v1/completions in the OpenAI response format, with deterministic output derived from a hash
of the input, so tests can check real requests end to end.

What it keeps of the real server: the flags of the installed version (cli_args.py), the model
directory check (config.json), pooling vs generate mode (`--task embed`, `--runner pooling`,
`--convert embed`: the other endpoints answer 400 as the real server does), `--api-key` or
VLLM_API_KEY (401 on /v1/* without `Authorization: Bearer <key>`; /health stays open), a short
startup delay before the port answers. Test hook: a file named GPUFLEET_STANDIN_FAIL in the model
directory makes startup fail with exit status 1, the way a broken new version fails its gate.

Token timing (so a serving benchmark measures something): with `"stream": true`, chat and
completions answer as server-sent events, one chunk per token, `max_tokens` tokens (the real
server's `ignore_eos` behaviour), after a prefill delay of PREFILL_S_PER_TOKEN per prompt word
plus FIRST_TOKEN_S, and TOKEN_S between tokens (GPUFLEET_STANDIN_TOKEN_S): fixed, small delays,
not a model of any GPU; TTFT and TPOT come out non-zero and steady. Non-streamed answers keep
their immediate, deterministic shape.
"""

import argparse
import contextlib
import hashlib
import json
import os
import struct
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from vllm import __version__
from vllm.entrypoints.openai.cli_args import make_arg_parser

FAIL_MARKER = "GPUFLEET_STANDIN_FAIL"
STARTUP_DELAY_S = float(os.environ.get("GPUFLEET_STANDIN_STARTUP_S", "1.5"))
EMBED_DIM = 64
TOKEN_S = float(os.environ.get("GPUFLEET_STANDIN_TOKEN_S", "0.002"))
FIRST_TOKEN_S = 0.01
PREFILL_S_PER_TOKEN = 0.00002


def _log(message: str) -> None:
    print(f"INFO {time.strftime('%m-%d %H:%M:%S')} [api_server.py] {message}", flush=True)


def _pooling(args) -> bool:
    return (
        getattr(args, "task", None) in ("embed", "embedding")
        or getattr(args, "runner", None) == "pooling"
        or getattr(args, "convert", None) == "embed"
    )


def _vector(text: str) -> list:
    digest = b""
    counter = 0
    while len(digest) < EMBED_DIM * 4:
        digest += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    raw = struct.unpack(f"<{EMBED_DIM}I", digest[: EMBED_DIM * 4])
    values = [v / 0xFFFFFFFF * 2 - 1 for v in raw]
    norm = sum(v * v for v in values) ** 0.5
    return [round(v / norm, 6) for v in values]


def _reply(text: str) -> str:
    words = ["gpufleet", "stand-in", "vllm", "serving", "ok", "volta", "pascal", "tokens"]
    digest = hashlib.sha256(text.encode()).digest()
    return " ".join(words[b % len(words)] for b in digest[:6])


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


class Handler(BaseHTTPRequestHandler):
    server_version = "uvicorn"
    args = None  # set by run()

    def log_message(self, fmt, *values):  # access log without headers (keys stay out)
        _log(f'{self.client_address[0]} - "{self.command} {self.path}" {values[1]}')

    def _send(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str = "BadRequestError") -> None:
        self._send(status, {"object": "error", "message": message, "type": kind, "code": status})

    def _authorized(self) -> bool:
        key = self.args.api_key or os.environ.get("VLLM_API_KEY")
        if not key or not self.path.startswith("/v1"):
            return True
        if self.headers.get("Authorization") == f"Bearer {key}":
            return True
        self._send(401, {"error": "Unauthorized"})
        return False

    def do_GET(self):
        if self.path == "/health":
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif not self._authorized():
            return
        elif self.path == "/v1/models":
            models = [
                {
                    "id": name,
                    "object": "model",
                    "created": int(self.server.started),
                    "owned_by": "vllm",
                    "root": self.args.model,
                    "parent": None,
                    "max_model_len": self.args.max_model_len,
                }
                for name in self.server.names
            ]
            self._send(200, {"object": "list", "data": models})
        elif self.path == "/version":
            self._send(200, {"version": __version__})
        else:
            self._error(404, "Not Found", "NotFoundError")

    def do_POST(self):
        if not self._authorized():
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self._error(400, "Invalid JSON body")
        if body.get("model") not in self.server.names:
            return self._error(404, f"The model `{body.get('model')}` does not exist.")
        routes = {
            "/v1/embeddings": (True, self._embeddings),
            "/v1/chat/completions": (False, self._chat),
            "/v1/completions": (False, self._completions),
        }
        if self.path not in routes:
            return self._error(404, "Not Found", "NotFoundError")
        pooling, handler = routes[self.path]
        if pooling != self.server.pooling:
            api = "Embeddings API" if pooling else "Completions API"
            return self._error(400, f"The model does not support {api}")
        handler(body)

    def _embeddings(self, body):
        inputs = body.get("input")
        inputs = [inputs] if isinstance(inputs, str) else list(inputs or [])
        data = [
            {"index": i, "object": "embedding", "embedding": _vector(str(text))}
            for i, text in enumerate(inputs)
        ]
        used = sum(_tokens(str(t)) for t in inputs)
        usage = {"prompt_tokens": used, "total_tokens": used, "completion_tokens": 0}
        self._send(
            200,
            {
                "id": f"embd-{hashlib.sha1(repr(inputs).encode()).hexdigest()[:16]}",
                "object": "list",
                "created": int(time.time()),
                "model": body["model"],
                "data": data,
                "usage": usage,
            },
        )

    def _chat(self, body):
        prompt = " ".join(str(m.get("content", "")) for m in body.get("messages") or [])
        if body.get("stream"):
            return self._stream("chat.completion.chunk", body, prompt)
        text = _reply(prompt)
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "logprobs": None,
            "finish_reason": "stop",
        }
        self._send(200, self._completion("chat.completion", body, prompt, text, choice))

    def _completions(self, body):
        prompt = str(body.get("prompt", ""))
        if body.get("stream"):
            return self._stream("text_completion", body, prompt)
        text = _reply(prompt)
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}
        self._send(200, self._completion("text_completion", body, prompt, text, choice))

    def _stream(self, kind, body, prompt):
        """Server-sent events: one chunk per token, then usage (if asked) and [DONE]."""
        words = _reply(prompt).split()
        count = int(body.get("max_tokens") or body.get("max_completion_tokens") or len(words))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        ident = f"cmpl-{hashlib.sha1(prompt.encode()).hexdigest()[:16]}"
        time.sleep(FIRST_TOKEN_S + PREFILL_S_PER_TOKEN * _tokens(prompt))
        for i in range(count):
            if i:
                time.sleep(TOKEN_S)
            word = words[i % len(words)] + " "
            if kind == "text_completion":
                choice = {"index": 0, "text": word, "logprobs": None, "finish_reason": None}
            else:
                choice = {"index": 0, "delta": {"content": word}, "finish_reason": None}
            self._event({"id": ident, "object": kind, "model": body["model"], "choices": [choice]})
        if (body.get("stream_options") or {}).get("include_usage"):
            used = _tokens(prompt)
            usage = {"prompt_tokens": used, "completion_tokens": count}
            usage["total_tokens"] = used + count
            self._event({"id": ident, "object": kind, "choices": [], "usage": usage})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _event(self, data) -> None:
        self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()

    def _completion(self, kind, body, prompt, text, choice):
        used, made = _tokens(prompt), _tokens(text)
        return {
            "id": f"cmpl-{hashlib.sha1(prompt.encode()).hexdigest()[:16]}",
            "object": kind,
            "created": int(time.time()),
            "model": body["model"],
            "choices": [choice],
            "usage": {
                "prompt_tokens": used,
                "completion_tokens": made,
                "total_tokens": used + made,
            },
        }


def _check_model(model: str) -> None:
    if not os.path.isfile(os.path.join(model, "config.json")):
        print(
            f"OSError: {model} does not appear to have a file named config.json.",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(1)
    if os.path.exists(os.path.join(model, FAIL_MARKER)):
        print(
            f"RuntimeError: Engine core initialization failed ({FAIL_MARKER} in {model}: "
            "gpufleet stand-in test hook). See root cause above.",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(1)


def run(args) -> int:
    shown = {k: v for k, v in sorted(vars(args).items()) if k != "api_key"}
    _log(f"vLLM API server version {__version__} (gpufleet stand-in)")
    _log(f"args: {shown}")
    _check_model(args.model)
    time.sleep(STARTUP_DELAY_S)  # the real server loads weights and profiles memory here
    server = ThreadingHTTPServer((args.host or "0.0.0.0", args.port), Handler)
    server.names = args.served_model_name or [args.model]
    server.pooling = _pooling(args)
    server.started = time.time()
    Handler.args = args
    _log(f"Starting vLLM API server on http://{args.host or '0.0.0.0'}:{args.port}")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="vLLM OpenAI-Compatible RESTful API server.")
    make_arg_parser(parser, __version__)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
