"""gpufleet sandbox: a cluster of real Debian hosts (systemd-nspawn + netns) and a local mirror.

Test infrastructure only: used by `make demo`, tests/e2e and bench/; never imported by gpufleet/,
tasks/ or deploy.py. Run `python -m sandbox up N | down | status` (as root).
"""
