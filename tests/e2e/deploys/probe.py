"""e2e probe deploy (test infrastructure): a file and a systemd unit, applied for real.

Proves pyinfra's files/systemd operations converge on the sandbox hosts. The file's content
comes from GPUFLEET_PROBE_VALUE so a test can ask for a change (and check `--dry` skips it).
"""

import os
from io import StringIO

from pyinfra.operations import files, systemd

VALUE = os.environ.get("GPUFLEET_PROBE_VALUE", "probe-1")
UNIT = """\
[Unit]
Description=gpufleet sandbox e2e probe

[Service]
ExecStart=/bin/sleep infinity

[Install]
WantedBy=multi-user.target
"""

files.put(
    name="Write the probe value",
    src=StringIO(VALUE + "\n"),
    dest="/etc/gpufleet-sandbox/probe",
    mode="644",
)
unit = files.put(
    name="Install the probe unit",
    src=StringIO(UNIT),
    dest="/etc/systemd/system/gpufleet-probe.service",
    mode="644",
)
systemd.daemon_reload(name="Reload systemd units", _if=unit.did_change)
systemd.service(
    name="Run the probe unit",
    service="gpufleet-probe.service",
    running=True,
    enabled=True,
)
