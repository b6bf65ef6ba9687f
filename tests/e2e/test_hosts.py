"""The sandbox hosts are real: systemd as PID 1 reaches `running`, sshd answers for root."""

from sandbox import config
from tests.e2e.helpers import on_host


def test_systemd_is_running_on_every_host(sandbox_cluster):
    for host in sandbox_cluster.hosts:
        result = on_host(sandbox_cluster, host, "systemctl is-system-running --wait")
        assert result.stdout.strip() == "running", (host.name, result.stdout, result.stderr)


def test_sshd_is_an_active_unit(sandbox_cluster):
    for host in sandbox_cluster.hosts:
        result = on_host(sandbox_cluster, host, "systemctl is-active ssh.service")
        assert result.stdout.strip() == "active", (host.name, result.stderr)


def test_each_host_knows_its_name_and_gpu(sandbox_cluster):
    for host in sandbox_cluster.hosts:
        result = on_host(sandbox_cluster, host, f"hostname; cat {config.GPU_FILE}")
        assert result.stdout.splitlines() == [host.name, host.gpu], result.stderr


def test_both_gpu_models_and_all_roles_are_present(sandbox_cluster):
    groups = {g for host in sandbox_cluster.hosts for g in host.groups}
    assert {"v100", "p40", "embedding", "chat", "canary"} <= groups
    assert [h.name for h in sandbox_cluster.hosts if "canary" in h.groups] == ["sbx01"]
