"""pyinfra with a stopwatch on every fact (benchmark tooling, used by bench/deploy_scaling.py).

Runs pyinfra's CLI after wrapping its internal ``_get_fact`` so each fact prints one stderr
line ``GPUFLEET-FACT <host> <fact> <seconds>`` (wall time: the SSH round trip plus any wait for
the control machine's CPU, which all hosts' greenlets share). Same arguments as ``pyinfra``:

    python bench/pyinfra_timed.py -y inventories/sandbox.py deploy.py
"""

import sys
import time

from pyinfra.api import facts
from pyinfra_cli.main import main

_get_fact = facts._get_fact


def _timed(state, host, cls, *args, **kwargs):
    started = time.monotonic()
    try:
        return _get_fact(state, host, cls, *args, **kwargs)
    finally:
        took = time.monotonic() - started
        name = f"{cls.__module__}.{cls.__name__}".removeprefix("pyinfra.facts.")
        print(f"GPUFLEET-FACT {host.name} {name} {took:.4f}", file=sys.stderr)


facts._get_fact = _timed

if __name__ == "__main__":
    sys.argv[0] = "pyinfra"
    sys.exit(main())
