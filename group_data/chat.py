"""Hosts serving the chat model (vLLM OpenAI chat/completions).

Serving flags come with tasks/services.py."""

serve_chat = True
