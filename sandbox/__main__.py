"""CLI: `python -m sandbox up N | down | status`.

Test infrastructure only (see sandbox/__init__.py); never imported by gpufleet/ or tasks/.
"""

import argparse
import sys
import time

from sandbox import cluster, config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="boot N hosts and the mirror (reuses a running cluster)")
    p_up.add_argument("n", type=int, nargs="?", default=3, help=f"hosts, 1..{config.MAX_HOSTS}")
    sub.add_parser("down", help="stop and remove everything `up` made")
    sub.add_parser("status", help="one line per host; exit 1 unless all are up")
    args = parser.parse_args(argv)
    if args.command == "up":
        started = time.monotonic()
        current = cluster.up(args.n)
        print(f"sandbox: up in {time.monotonic() - started:.1f} s; state in {config.STATE_FILE}")
        print(f"sandbox: mirror at {current.mirror.url}")
        return cluster.status()
    if args.command == "down":
        cluster.down()
        return 0
    return cluster.status()


if __name__ == "__main__":
    sys.exit(main())
