"""Driver: the NVIDIA driver the host's stack needs, from NVIDIA's runfile, verified first.

Build prerequisites from apt (only what is missing), nouveau blacklisted (the initramfs rebuilt
only when that file changes), the runfile downloaded to downloads_dir and its sha256 checked
before it runs, installed `--silent --dkms` with the stack's kernel module flavour (proprietary
for GPUs before Turing), nvidia-persistenced enabled, and apt holds on the kernel packages the
module is built for. A host already on the resolved driver gets no command.

Never reboots unless `allow_reboot`: otherwise a host that needs one (nouveau still loaded, or
an older driver still loaded after an upgrade) gets /var/lib/gpufleet/reboot-required and a
warning naming the host. Refuses to change an installed driver while GPU processes run, unless
`force_driver_change`. Runnable alone:

    pyinfra -y inventories/sandbox.py tasks/driver.py
"""

from pyinfra import host, local, logger
from pyinfra.facts.server import KernelVersion
from pyinfra.operations import server, systemd

from gpufleet.config import HostConfig
from gpufleet.facts import host as host_facts
from gpufleet.facts.driver import InstalledDriver
from gpufleet.facts.nvidia import NouveauLoaded, NvidiaDriver
from gpufleet.operations import download, driver, managed
from gpufleet.prefetch import prefetch_deploy

local.include("tasks/preflight.py")

plan = host.data.gpufleet_plan
cfg = HostConfig.from_data(host.name, host.data.get)
stack = plan.stack
prefetch_deploy(cfg, plan)  # every fact of driver, cuda, conda, stack: one round trip
kernel = host_facts.get(KernelVersion)
prerequisites = driver.with_kernel(list(cfg.driver_apt_packages), kernel)


def _reboot_or_report(reason: str, **kwargs) -> None:
    if cfg.allow_reboot:
        server.reboot(name=f"Reboot: {reason}", reboot_timeout=900, **kwargs)
        return
    logger.warning(f"{host.name}: reboot required: {reason} (allow_reboot is off)")
    server.shell(
        name=f"Mark reboot required: {reason}",
        commands=[driver.reboot_marker_command(reason)],
        **kwargs,
    )


driver.prerequisites(
    name="Install the driver's build prerequisites (apt)",
    packages=prerequisites,
)
blacklist = managed.template(
    name="Blacklist nouveau",
    src="templates/nouveau-blacklist.conf.j2",
    dest=driver.NOUVEAU_BLACKLIST,
    mode="644",
)
server.shell(
    name="Rebuild the initramfs without nouveau",
    commands=["update-initramfs -u"],
    _if=blacklist.did_change,
)

nouveau_loaded = host_facts.get(NouveauLoaded)
if nouveau_loaded:
    # The installer refuses to run while nouveau drives the GPU: only a reboot unloads it.
    _reboot_or_report("nouveau is loaded; the NVIDIA driver installs after a reboot")

if not nouveau_loaded or cfg.allow_reboot:
    url = cfg.nvidia_driver_url.format(version=stack.driver_version)
    loaded = host_facts.get(NvidiaDriver)
    install = driver.installed(
        name="Install the stack's NVIDIA driver (runfile, sha256 verified)",
        version=stack.driver_version,
        branch=stack.driver_branch,
        kernel_module=stack.driver_module,
        url=url,
        downloads_dir=cfg.downloads_dir,
        sha256=cfg.driver_sha256,
        sha256_url=download.checksum_url(cfg.nvidia_driver_sha256_url, url),
        force=cfg.force_driver_change,
        cache_dir=cfg.artifact_dir(),
    )
    reason = driver.reboot_reason(loaded, stack.driver_version)
    current = host_facts.get(InstalledDriver)
    if reason and (current or {}).get("version") != stack.driver_version:
        _reboot_or_report(reason, _if=install.did_change)
    elif not reason:
        managed.absent(
            name="Clear the reboot marker (the resolved driver is the one loaded)",
            path=driver.REBOOT_MARKER,
        )

    unit = managed.template(
        name="Install the nvidia-persistenced unit",
        src="templates/nvidia-persistenced.service.j2",
        dest=driver.PERSISTENCED_UNIT,
        mode="644",
    )
    systemd.daemon_reload(name="Reload systemd units", _if=unit.did_change)
    managed.running(
        name="Enable and start nvidia-persistenced (persistence mode)",
        service=driver.PERSISTENCED_SERVICE,
    )
    systemd.service(
        name="Restart nvidia-persistenced on the new driver",
        service=driver.PERSISTENCED_SERVICE,
        restarted=True,
        _if=install.did_change,
    )

driver.held(
    name="Hold the kernel packages the driver's module is built for (apt-mark hold)",
    packages=driver.with_kernel(list(cfg.driver_apt_holds), kernel),
    installing=prerequisites,
)
