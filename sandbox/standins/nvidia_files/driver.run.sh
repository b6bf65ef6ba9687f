#!/bin/bash
# gpufleet sandbox stand-in for NVIDIA-Linux-x86_64-@VERSION@.run (made by
# sandbox/standins/nvidia.py; the real one is a makeself archive of nvidia-installer). It honours
# the real installer's flags, refuses what the real one refuses, and writes the files the real
# one writes that gpufleet reads: nvidia-smi, nvidia-installer, nvidia-persistenced, the DKMS
# record and /var/log/nvidia-installer.log (its command line names the module flavour).
VERSION=@VERSION@
BRANCH=@BRANCH@
LOG=/var/log/nvidia-installer.log
STATE=/var/lib/gpufleet-sandbox

die() { echo "ERROR: $*" >&2; exit 1; }
usage_error() {
    printf 'ERROR: Unrecognized option: "%s"\n\nRun `nvidia-installer --help` for usage information.\n' "$1" >&2
    exit 1
}

silent= dkms= flavour= uninstall=
for arg in "$@"; do
    case "$arg" in
        -s|--silent) silent=1 ;;
        -a|--accept-license|-q|--no-questions|--ui=none|--no-x-check|--disable-nouveau|\
        --no-nouveau-check|--no-opengl-files|--no-drm|--install-libglvnd|--no-install-libglvnd|\
        --no-cc-version-check|--no-backup|--no-rebuild-initramfs|--rebuild-initramfs) ;;
        --dkms) dkms=1 ;;
        --no-dkms) dkms= ;;
        --kernel-module-type=*)
            # added with the 560 drivers; older installers do not know it
            [ "$BRANCH" -ge 560 ] || usage_error "$arg"
            flavour=${arg#*=}
            case "$flavour" in open|proprietary) ;; *) die "Invalid kernel module type '$flavour'." ;; esac ;;
        -m=kernel|--kernel-module-build-directory=kernel) flavour=proprietary ;;
        -m=kernel-open|--kernel-module-build-directory=kernel-open) flavour=open ;;
        --uninstall) uninstall=1 ;;
        -v|--version)
            printf '\nnvidia-installer:  version %s\n  The NVIDIA Software Installer for Unix/Linux.\n' "$VERSION"
            exit 0 ;;
        *) usage_error "$arg" ;;
    esac
done
[ "$(id -u)" = 0 ] || die "nvidia-installer must be run as root"
[ -n "$silent" ] || die "the sandbox stand-in runs only with --silent (no terminal UI)"

if [ -n "$uninstall" ]; then
    [ -x /usr/bin/nvidia-installer ] || die "No NVIDIA driver is currently installed."
    exec /usr/bin/nvidia-installer --uninstall --silent
fi

grep -q '^nouveau ' /proc/modules 2>/dev/null && die "The Nouveau kernel driver is currently in use by your system.  This driver is incompatible with the NVIDIA driver, and must be disabled before proceeding."
kernel=$(uname -r)
[ -d "/lib/modules/$kernel/build" ] || die "Unable to find the kernel source tree for the currently running kernel.  Please make sure you have installed the kernel source files for your kernel and that they are properly configured."
if [ -n "$dkms" ]; then
    command -v dkms >/dev/null || die "Failed to run \`dkms\`: it is not installed. Install it or omit --dkms."
fi
# 560 and newer install the open modules unless told otherwise; older ones the proprietary ones
[ -n "$flavour" ] || { [ "$BRANCH" -ge 560 ] && flavour=open || flavour=proprietary; }

# an installed driver is uninstalled first, as the real installer does in --silent mode
if [ -x /usr/bin/nvidia-installer ]; then
    /usr/bin/nvidia-installer --uninstall --silent >/dev/null || die "Failed to uninstall the previous driver."
fi

mkdir -p /usr/bin "$STATE" "/usr/src/nvidia-$VERSION"
cat >/usr/bin/nvidia-smi <<'SMI_EOF'
@SMI@
SMI_EOF
cat >/usr/bin/nvidia-installer <<'INSTALLER_EOF'
@INSTALLER@
INSTALLER_EOF
cat >/usr/bin/nvidia-persistenced <<'PERSISTENCED_EOF'
@PERSISTENCED@
PERSISTENCED_EOF
chmod 0755 /usr/bin/nvidia-smi /usr/bin/nvidia-installer /usr/bin/nvidia-persistenced
ln -sf nvidia-installer /usr/bin/nvidia-uninstall
printf 'PACKAGE_NAME="nvidia"\nPACKAGE_VERSION="%s"\nBUILT_MODULE_NAME[0]="nvidia"\n' "$VERSION" \
    >"/usr/src/nvidia-$VERSION/dkms.conf"
if [ -n "$dkms" ]; then
    mkdir -p "/var/lib/dkms/nvidia/$VERSION/$kernel/x86_64"
    ln -sfn "/usr/src/nvidia-$VERSION" "/var/lib/dkms/nvidia/$VERSION/source"
fi
echo "$flavour" >"$STATE/nvidia-module"
{
    echo "nvidia-installer log file '$LOG'"
    echo "creation time: $(date)"
    echo "installer version: $VERSION"
    echo
    echo "PATH: $PATH"
    echo
    echo "nvidia-installer command line:"
    echo "    ./nvidia-installer"
    for arg in "$@"; do echo "    $arg"; done
    echo
    echo "Kernel module type: $flavour"
    echo "Installation of the NVIDIA Accelerated Graphics Driver for Linux-x86_64 (version: $VERSION) is now complete."
} >"$LOG"
echo "Installation of the NVIDIA Accelerated Graphics Driver for Linux-x86_64 (version: $VERSION) is now complete."
