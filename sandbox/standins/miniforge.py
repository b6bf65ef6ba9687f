"""Stand-in Miniforge installer for the sandbox mirror (test infrastructure only).

Real Miniforge cannot be fetched here: this box reaches only PyPI and Debian's archive, and the
installer lives on GitHub release assets. So the mirror serves `Miniforge3-<v>-Linux-x86_64.sh`
(and the `.sha256` file the real release has beside it) at miniforge_url's path: a shell
installer with the real one's flags (-b batch, -p PREFIX, -u update, -f force; -s/-k/-i
accepted; anything else is an error with the real message) that creates a conda-compatible
prefix:
    PREFIX/bin/python, bin/pip    a venv of the host's /usr/bin/python3 (the "base env")
    PREFIX/bin/conda, condabin/conda
    PREFIX/pkgs/pip-*.whl         the real pip wheel, so envs get pip offline (Debian's python3
                                  has no ensurepip without python3-venv)
    PREFIX/.condarc, conda-meta/, envs/
`conda` is a small Python script (the host's /usr/bin/python3) doing what gpufleet's tasks use:
    conda --version                                  -> "conda 24.11.3"
    conda create -y [-q] [--offline] -p PATH|-n NAME python=X.Y [pip]
                                                     -> a venv with pip; another python than the
                                                        host's fails with conda's real error
    conda run -p PATH|-n NAME [--no-capture-output] CMD...
    conda env list | conda info --envs ; conda env remove -p PATH|-n NAME [-y]
    conda config --show [KEY]
.condarc (PREFIX/.condarc, ~/.condarc, $CONDARC, later wins): `channels` (shown in errors and
`config --show`), `envs_dirs` (where -n NAME goes), `always_yes` are honoured; other keys
(channel_alias, pkgs_dirs, auto_update_conda, ...) are shown by `config --show` and otherwise
ignored: nothing is ever downloaded. pip reads its own config as usual (pip.conf, PIP_*).
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
from pathlib import Path

CONDA_SCRIPT = r'''#!/usr/bin/python3
"""Stand-in conda (gpufleet sandbox; see sandbox/standins/miniforge.py in the gpufleet repo)."""
import argparse, os, re, shutil, subprocess, sys
from pathlib import Path

VERSION = "@CONDA_VERSION@"
ROOT = Path(__file__).resolve().parent.parent
HOST_PYTHON = "/usr/bin/python3"


def condarc():
    conf = {"channels": ["conda-forge"], "envs_dirs": [str(ROOT / "envs")], "always_yes": False}
    files = [ROOT / ".condarc", Path.home() / ".condarc"]
    files += [Path(os.environ["CONDARC"])] if os.environ.get("CONDARC") else []
    for f in files:
        if f.is_file():
            conf.update(parse_yaml(f.read_text()))
    return conf


def parse_yaml(text):
    """The subset .condarc files use: `key: value` and `key:` followed by `  - item` lines."""
    conf, key = {}, None
    for line in text.splitlines():
        line = line.split(" #")[0].rstrip() if not line.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        if line.lstrip().startswith("- ") and key:
            conf.setdefault(key, []).append(line.strip()[2:].strip())
            continue
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if value:
            conf[key] = {"true": True, "false": False}.get(value.lower(), value)
        else:
            conf[key] = []
    return conf


def env_path(args, conf):
    if args.prefix:
        return Path(args.prefix).absolute()
    if args.name:
        return Path(conf["envs_dirs"][0]) / args.name
    sys.exit("CondaValueError: either -n NAME or -p PREFIX option required")


def not_found(specs, conf):
    chans = "".join(f"  - {c}\n" for c in conf["channels"])
    pkgs = "".join(f"  - {s}\n" for s in specs)
    sys.stderr.write(
        "\nPackagesNotFoundError: The following packages are not available from current "
        f"channels:\n\n{pkgs}\nCurrent channels:\n\n{chans}\n"
    )
    sys.exit(1)


def host_python_matches(spec):
    want = spec.split("=", 1)[1].lstrip("=").rstrip(".*") if "=" in spec else ""
    have = "%d.%d.%d" % sys.version_info[:3]
    return not want or have == want or have.startswith(want + ".")


def create(args, conf):
    path = env_path(args, conf)
    bad = [s for s in args.specs if s.split("=")[0] not in ("python", "pip")]
    bad += [s for s in args.specs if s.split("=")[0] == "python" and not host_python_matches(s)]
    if bad:
        not_found(bad, conf)
    if not (args.yes or conf.get("always_yes")):
        try:
            if input("Proceed ([y]/n)? ").strip().lower() not in ("", "y", "yes"):
                raise EOFError
        except EOFError:
            sys.exit("CondaSystemExit: Exiting.")
    if path.exists():
        shutil.rmtree(path)
    subprocess.run([HOST_PYTHON, "-m", "venv", "--without-pip", str(path)], check=True)
    wheel = sorted(ROOT.glob("pkgs/pip-*.whl"))[-1]
    pip = [str(path / "bin" / "python"), f"{wheel}/pip", "install", "-q", "--no-index"]
    subprocess.run([*pip, "--no-cache-dir", str(wheel)], check=True)
    (path / "conda-meta").mkdir(exist_ok=True)
    (path / "conda-meta" / "history").write_text(f"==> conda create -p {path} <==\n")
    registry = Path.home() / ".conda" / "environments.txt"
    registry.parent.mkdir(parents=True, exist_ok=True)
    known = registry.read_text().splitlines() if registry.exists() else []
    registry.write_text("".join(f"{p}\n" for p in dict.fromkeys([*known, str(path)])))
    if not args.quiet:
        print(f"\n#\n# To activate this environment, use\n#\n#     $ conda activate {path}\n#")


def run(args, conf):
    path = env_path(args, conf)
    if not (path / "conda-meta").is_dir():
        sys.exit(f"EnvironmentLocationNotFound: Not a conda environment: {path}")
    if not args.cmd:
        sys.exit("CondaError: no command given to conda run")
    env = dict(os.environ, CONDA_PREFIX=str(path), CONDA_DEFAULT_ENV=str(path))
    env["PATH"] = f"{path / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    os.execvpe(args.cmd[0], args.cmd, env)


def envs():
    registry = Path.home() / ".conda" / "environments.txt"
    listed = registry.read_text().splitlines() if registry.exists() else []
    return [str(ROOT)] + [p for p in listed if (Path(p) / "conda-meta").is_dir()]


def env_list(args, conf):
    print("# conda environments:\n#")
    for p in envs():
        print(f"{'base' if p == str(ROOT) else '':<25}{p}")


def env_remove(args, conf):
    path = env_path(args, conf)
    if not (path / "conda-meta").is_dir():
        sys.exit(f"EnvironmentLocationNotFound: Not a conda environment: {path}")
    shutil.rmtree(path)


def show(value, key):
    if isinstance(value, list):
        return f"{key}:\n" + "".join(f"  - {v}\n" for v in value)
    return f"{key}: {str(value).lower() if isinstance(value, bool) else value}\n"


def config(args, conf):
    if args.show is None:
        sys.exit("CondaError: the stand-in conda config supports --show [KEY] only")
    keys = args.show or sorted(conf)
    print("".join(show(conf.get(k), k) for k in keys), end="")


def main(argv):
    if argv[:1] in (["--version"], ["-V"]):
        return print(f"conda {VERSION}")
    parser = argparse.ArgumentParser(prog="conda")
    sub = parser.add_subparsers(dest="command", required=True)
    target = argparse.ArgumentParser(add_help=False)
    target.add_argument("-p", "--prefix")
    target.add_argument("-n", "--name")
    p = sub.add_parser("create", parents=[target])
    p.add_argument("-y", "--yes", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--offline", action="store_true")
    p.add_argument("specs", nargs="*")
    p.set_defaults(func=create)
    p = sub.add_parser("run", parents=[target])
    p.add_argument("--no-capture-output", "--live-stream", action="store_true")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    p.set_defaults(func=run)
    p = sub.add_parser("env")
    esub = p.add_subparsers(dest="env_command", required=True)
    esub.add_parser("list").set_defaults(func=env_list)
    p = esub.add_parser("remove", parents=[target])
    p.add_argument("-y", "--yes", action="store_true")
    p.set_defaults(func=env_remove)
    p = sub.add_parser("info")
    p.add_argument("-e", "--envs", action="store_true", required=True)
    p.set_defaults(func=env_list)
    p = sub.add_parser("config")
    p.add_argument("--show", nargs="*")
    p.set_defaults(func=config)
    args = parser.parse_args(argv)
    args.func(args, condarc())


if __name__ == "__main__":
    main(sys.argv[1:])
'''

INSTALLER = r"""#!/bin/sh
# Stand-in Miniforge3 @VERSION@ installer (gpufleet sandbox, test infrastructure only: the real
# installer cannot be fetched here). Flags as the real one: see sandbox/standins/miniforge.py.
set -eu
PREFIX="${HOME:-/root}/miniforge3"; BATCH=0; FORCE=0; UPDATE=0
USAGE="usage: $0 [options]

Installs Miniforge3 @VERSION@

-b           run install in batch mode (without manual intervention)
-f           no error if install prefix already exists
-h           print this help message and exit
-p PREFIX    install prefix, defaults to $PREFIX, must not contain spaces.
-s           skip running pre/post-link/install scripts
-u           update an existing installation
"
while getopts ":bifhkp:su" x; do
  case "$x" in
    h) printf '%s\n' "$USAGE"; exit 2 ;;
    b) BATCH=1 ;;
    i) BATCH=0 ;;
    f) FORCE=1 ;;
    p) PREFIX="$OPTARG" ;;
    s|k) ;;
    u) FORCE=1; UPDATE=1 ;;
    :) printf "ERROR: option '-%s' needs an argument, please try -h\n" "$OPTARG" >&2; exit 1 ;;
    *) printf "ERROR: did not recognize option '-%s', please try -h\n" "$OPTARG" >&2; exit 1 ;;
  esac
done
shift $((OPTIND - 1))
die() { echo "ERROR: $*" >&2; exit 1; }
[ $# -eq 0 ] || die "did not recognize argument '$1', please try -h"
[ "$BATCH" = 1 ] || die "the sandbox stand-in installs in batch mode only (-b)"
case "$PREFIX" in *" "*) die "Cannot install into directories with spaces" ;; esac
if [ "$FORCE" = 0 ] && [ -e "$PREFIX" ]; then
  printf "ERROR: File or directory already exists: '%s'\n" "$PREFIX" >&2
  printf "If you want to update an existing installation, use the -u option.\n" >&2
  exit 1
fi
[ -x /usr/bin/python3 ] || die "/usr/bin/python3 not found (the stand-in's base python)"
CREATED=0; [ -e "$PREFIX" ] || CREATED=1
cleanup() { if [ "$CREATED" = 1 ]; then rm -rf "$PREFIX"; fi; }
trap 'rc=$?; if [ $rc -ne 0 ]; then cleanup; fi; exit $rc' EXIT
echo "PREFIX=$PREFIX"
echo "Unpacking payload ..."
/usr/bin/python3 -m venv --without-pip "$PREFIX"
sed -n '/^__GPUFLEET_PAYLOAD__$/,$p' "$0" | tail -n +2 | base64 -d | tar -xzf - -C "$PREFIX"
if [ ! -x "$PREFIX/bin/pip" ]; then
  PIPWHL=$(ls "$PREFIX"/pkgs/pip-*.whl | tail -n 1)
  "$PREFIX/bin/python" "$PIPWHL/pip" install -q --no-index --no-cache-dir "$PIPWHL"
fi
mkdir -p "$PREFIX/condabin" "$PREFIX/conda-meta" "$PREFIX/envs"
ln -sf ../bin/conda "$PREFIX/condabin/conda"
[ -e "$PREFIX/.condarc" ] || printf 'channels:\n  - conda-forge\n' > "$PREFIX/.condarc"
echo "==> installer: Miniforge3 @VERSION@ <==" >> "$PREFIX/conda-meta/history"
[ "$UPDATE" = 1 ] && echo "updated existing installation" || true
echo "installation finished."
exit 0
__GPUFLEET_PAYLOAD__
"""


def _payload(conda_version: str, pip_wheel: Path) -> bytes:
    buf = io.BytesIO()
    script = CONDA_SCRIPT.replace("@CONDA_VERSION@", conda_version).encode()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data, mode in (
            ("bin/conda", script, 0o755),
            (f"pkgs/{pip_wheel.name}", pip_wheel.read_bytes(), 0o644),
        ):
            member = tarfile.TarInfo(name)
            member.size, member.mode, member.mtime = len(data), mode, 0
            tf.addfile(member, io.BytesIO(data))
    raw = buf.getvalue()
    return raw[:4] + b"\0\0\0\0" + raw[8:]  # reproducible: no gzip timestamp


def build_installer(version: str, pip_wheel: Path) -> bytes:
    """The installer for Miniforge `version` ("24.11.3-2" -> conda 24.11.3), pip bundled."""
    conda_version = version.split("-")[0]
    head = INSTALLER.replace("@VERSION@", version).encode()
    return head + base64.encodebytes(_payload(conda_version, pip_wheel))


def files(urls: dict, tool_wheels: list[Path]) -> dict[str, bytes]:
    """{upstream URL: bytes}: the installer and its `.sha256` ("<hex>  <name>\\n")."""
    version = urls["miniforge_version"]
    pip_wheel = next(w for w in reversed(tool_wheels) if w.name.startswith("pip-"))
    url = urls["miniforge_url"].format(version=version)
    data = build_installer(version, pip_wheel)
    name = url.rsplit("/", 1)[1]
    return {url: data, url + ".sha256": f"{hashlib.sha256(data).hexdigest()}  {name}\n".encode()}
