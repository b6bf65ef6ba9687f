"""Stand-in for vllm.entrypoints (sandbox only; see vllm/cli.py)."""
