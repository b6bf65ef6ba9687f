"""Hosts of the `gateway` group: one HAProxy front per serving role (tasks/gateway.py).

Applications point at the gateway, not at the GPU hosts: embeddings at
`http://<gateway>:<gateway_embedding_port>/v1`, chat at `http://<gateway>:<gateway_chat_port>/v1`.
The upstreams are every inventory host's servers of that role; a rollout drains each server
from here before it restarts (group_data/all.py `drain_timeout_s`).
"""

gateway_embedding_port = 9000  # the embedding front (OpenAI /v1/embeddings)
gateway_chat_port = 9001  # the chat front (/v1/chat/completions, /v1/completions)
gateway_bind = "0.0.0.0"  # the address the fronts listen on ("0.0.0.0" = every address)
# Root-only file on the gateway with one line `VLLM_API_KEY=<key>` (the format of the servers'
# `api_key_file`): the front answers 401 on /v1 without `Authorization: Bearer <key>`. systemd
# loads it into haproxy's environment, so the key is never in haproxy.cfg, a diff or a log; a
# rotated key takes effect on `systemctl restart haproxy`. None = the front checks no key.
gateway_api_key_file = None
# HAProxy's admin socket: the rollout's `set server ... state drain|ready` and `show stat`.
gateway_admin_socket = "/run/haproxy/admin.sock"
gateway_timeout_s = 900  # client/server inactivity: a long generation may stream for minutes
gateway_connect_timeout_s = 5  # a server that does not accept within this is retried elsewhere
gateway_check_interval_s = 2  # active health check (GET /health) period; 2 fails = DOWN
gateway_retries = 3  # retries after a failed connection (nothing sent yet: always safe)
# After a config reload, the old worker finishes its in-flight requests for up to this long.
gateway_hard_stop_after_s = 900
