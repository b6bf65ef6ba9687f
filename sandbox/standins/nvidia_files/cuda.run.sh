#!/bin/bash
# gpufleet sandbox stand-in for @RUNFILE@ (made by sandbox/standins/nvidia.py; the real one is a
# makeself archive of cuda-installer). It honours the real installer's flags and writes what
# gpufleet reads: <toolkitpath>/version.json, bin/nvcc and bin/cuobjdump, the /usr/local/cuda
# link and /var/log/cuda-installer.log. It never installs a driver.
VERSION=@VERSION@
SHORT=@SHORT@
LOG=/var/log/cuda-installer.log

fail() { echo "$*" >&2; echo "[ERROR]: $*" >>"$LOG"; exit 1; }
silent= toolkit= driver= override= toolkitpath="/usr/local/cuda-$SHORT"
for arg in "$@"; do
    case "$arg" in
        --silent) silent=1 ;;
        --toolkit) toolkit=1 ;;
        --driver) driver=1 ;;
        --override) override=1 ;;
        --toolkitpath=*) toolkitpath=${arg#*=} ;;
        --installpath=*) toolkitpath=${arg#*=} ;;
        --defaultroot=*|--tmpdir=*|--kernelobjdir=*|--kernel-source-path=*|--kernel-output-path=*|\
        --no-man-page|--no-opengl-libs|--no-drm|--run-nvidia-xconfig|-m=kernel|-m=kernel-open|\
        --kernel-module-type=*) ;;
        *) echo "Unknown option: ${arg#--}" >&2; exit 1 ;;
    esac
done
mkdir -p "$(dirname "$LOG")"
[ "$(id -u)" = 0 ] || fail "The installer must be run as root"
[ -n "$silent" ] || fail "the sandbox stand-in runs only with --silent (no terminal UI)"
[ -n "$toolkit$driver" ] || fail "Nothing to install: --silent needs --toolkit and/or --driver"
if [ -n "$driver" ]; then
    [ -f /etc/gpufleet-sandbox/gpu ] || fail "Failed to install the driver: no NVIDIA GPU was found. See log at $LOG for details."
    fail "Installing the bundled driver is not modelled by the sandbox stand-in; install the driver runfile instead"
fi
case "$toolkitpath" in /*) ;; *) fail "Toolkit path must be absolute: $toolkitpath" ;; esac
if [ -z "$override" ] && ! command -v gcc >/dev/null; then
    fail "Failed to verify gcc version. See log at $LOG for details."
fi
mkdir -p "$toolkitpath/bin"
cat >"$toolkitpath/version.json" <<'JSON_EOF'
@VERSION_JSON@
JSON_EOF
cat >"$toolkitpath/bin/nvcc" <<'NVCC_EOF'
@NVCC@
NVCC_EOF
cat >"$toolkitpath/bin/cuobjdump" <<'CUOBJDUMP_EOF'
@CUOBJDUMP@
CUOBJDUMP_EOF
chmod 0755 "$toolkitpath/bin/nvcc" "$toolkitpath/bin/cuobjdump"
ln -sfn "$toolkitpath" /usr/local/cuda
echo "[INFO]: Toolkit $VERSION installed in $toolkitpath" >>"$LOG"
cat <<SUMMARY_EOF
===========
= Summary =
===========

Driver:   Not Selected
Toolkit:  Installed in $toolkitpath/

Please make sure that
 -   PATH includes $toolkitpath/bin
 -   LD_LIBRARY_PATH includes $toolkitpath/lib64, or, add $toolkitpath/lib64 to /etc/ld.so.conf and run ldconfig as root
SUMMARY_EOF
