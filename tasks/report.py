"""Report: each host's GPUs, driver, CUDA toolkits, apt holds and package versions, as a table.

The same facts and table as `gpufleet report INVENTORY`, from inside a deploy. Read-only: it
only reads facts; its one operation prints the table once, on this machine, after every host's
facts are in. Runnable alone (not part of deploy.py):

    pyinfra -y inventories/sandbox.py tasks/report.py
"""

from pyinfra import host, inventory
from pyinfra.operations import python

from gpufleet import report
from gpufleet.config import defaults

packages = host.data.get("report_packages", defaults()["report_packages"])
facts = {
    key: host.get_fact(fact_cls, **kwargs)
    for key, (fact_cls, kwargs) in report.fact_spec(packages).items()
}
host.data.gpufleet_report = report.build_report(host.name, facts)


def _print_fleet_report() -> None:
    rows = [(h.name, h.data.get("gpufleet_report")) for h in inventory]
    print(report.render_text(report.with_missing(rows)), flush=True)


python.call(
    name="Print the fleet report",
    function=_print_fleet_report,
    _run_once=True,  # one table for the fleet, not one per host
)
