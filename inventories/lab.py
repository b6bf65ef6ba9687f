"""Example lab: four V100-SXM2-32GB boxes and two P40 boxes, 8 GPUs each.

As in the team's notes, an embedding host runs its server on GPUs 4-7 and a chat host on 0-3
(group_data/embedding.py, chat.py), leaving the other four GPUs of each box free.

Groups name the GPU model (v100, p40) and the serving role (embedding, chat); group_data/<group>.py
holds each group's settings. Replace the addresses with your hosts'.
"""

v100 = [
    ("gpu01", {"ssh_hostname": "10.20.0.11", "gpu_count": 8}),
    ("gpu02", {"ssh_hostname": "10.20.0.12", "gpu_count": 8}),
    ("gpu03", {"ssh_hostname": "10.20.0.13", "gpu_count": 8}),
    ("gpu04", {"ssh_hostname": "10.20.0.14", "gpu_count": 8}),
]

p40 = [
    ("gpu05", {"ssh_hostname": "10.20.0.15", "gpu_count": 8}),
    ("gpu06", {"ssh_hostname": "10.20.0.16", "gpu_count": 8}),
]

embedding = ["gpu01", "gpu02", "gpu05"]
chat = ["gpu03", "gpu04", "gpu06"]
