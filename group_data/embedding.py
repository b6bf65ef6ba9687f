"""Hosts serving the embedding model (vLLM pooling runner).

Serving flags come with tasks/services.py."""

serve_embedding = True
