"""Stand-in for vllm.entrypoints.openai (sandbox only; see vllm/cli.py)."""
