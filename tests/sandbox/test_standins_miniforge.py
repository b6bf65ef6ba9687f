"""The Miniforge stand-in (sandbox/standins/miniforge.py): the installer's flags and the conda
commands gpufleet's tasks use, run for real on this box's /usr/bin/python3."""

import hashlib
import subprocess
from pathlib import Path

import pytest

from sandbox.standins import miniforge, wheels

URLS = wheels.upstream_urls()
# the version the stand-in conda creates envs with: the host's own python
HOST_PY = subprocess.run(
    ["/usr/bin/python3", "-c", "import sys; print(*sys.version_info[:2], sep='.')"],
    capture_output=True,
    text=True,
).stdout.strip()


@pytest.fixture(scope="module")
def installer(tmp_path_factory) -> Path:
    files = miniforge.files(URLS, wheels.build_tool_wheels())
    url = URLS["miniforge_url"].format(version=URLS["miniforge_version"])
    path = tmp_path_factory.mktemp("dl") / url.rsplit("/", 1)[1]
    path.write_bytes(files[url])
    digest, name = files[url + ".sha256"].decode().split()
    assert (digest, name) == (hashlib.sha256(files[url]).hexdigest(), path.name)
    return path


@pytest.fixture(scope="module")
def prefix(installer, tmp_path_factory) -> Path:
    prefix = tmp_path_factory.mktemp("opt") / "miniforge"
    result = _sh(installer, "-b", "-p", str(prefix))
    assert result.returncode == 0, result.stderr
    return prefix


def _sh(installer: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(installer), *args], capture_output=True, text=True)


def _conda(prefix: Path, *args: str, home: Path | None = None) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home or prefix.parent)}
    return subprocess.run(
        [str(prefix / "bin/conda"), *args], capture_output=True, text=True, env=env
    )


def test_install_layout_and_version(prefix):
    for path in ("bin/python", "bin/pip", "bin/conda", "condabin/conda", ".condarc"):
        assert (prefix / path).exists(), path
    assert _conda(prefix, "--version").stdout == "conda 24.11.3\n"


def test_installer_flags(installer, prefix, tmp_path):
    exists = _sh(installer, "-b", "-p", str(prefix))
    assert exists.returncode == 1 and f"already exists: '{prefix}'" in exists.stderr
    assert _sh(installer, "-b", "-u", "-p", str(prefix)).returncode == 0
    assert _sh(installer, "-b", "-f", "-p", str(prefix)).returncode == 0
    unknown = _sh(installer, "-b", "-z", "-p", str(tmp_path / "x"))
    assert unknown.returncode == 1
    assert "did not recognize option '-z'" in unknown.stderr and not (tmp_path / "x").exists()
    assert _sh(installer, "-p", str(tmp_path / "y")).returncode == 1  # no -b: refused


def test_create_run_list_remove(prefix):
    env = prefix / "envs" / "stack1"
    created = _conda(prefix, "create", "-y", "-q", "-p", str(env), f"python={HOST_PY}", "--offline")
    assert created.returncode == 0, created.stderr
    ran = _conda(
        prefix, "run", "-p", str(env), "python", "-c", "import sys, pip; print(sys.prefix)"
    )
    assert ran.stdout.strip() == str(env), ran.stderr
    assert str(env) in _conda(prefix, "env", "list").stdout
    assert _conda(prefix, "env", "remove", "-y", "-p", str(env)).returncode == 0
    assert not env.exists()


def test_other_python_fails_with_condas_error(prefix):
    result = _conda(prefix, "create", "-y", "-p", str(prefix / "envs/x"), "python=3.99")
    assert result.returncode == 1 and not (prefix / "envs/x").exists()
    assert "PackagesNotFoundError: The following packages are not available" in result.stderr
    assert "  - python=3.99" in result.stderr


def test_condarc_channels_shown(prefix):
    (prefix / ".condarc").write_text("channels:\n  - lab-forge\nalways_yes: true\n")
    shown = _conda(prefix, "config", "--show", "channels", "always_yes").stdout
    assert shown == "channels:\n  - lab-forge\nalways_yes: true\n"
