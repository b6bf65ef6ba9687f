#!/bin/bash
# gpufleet sandbox stand-in for the installed /usr/bin/nvidia-installer (sandbox/standins/nvidia.py)
VERSION=@VERSION@
case " $* " in
    *" --version "*|*" -v "*)
        printf '\nnvidia-installer:  version %s\n  The NVIDIA Software Installer for Unix/Linux.\n\n' "$VERSION"
        printf '  This program is used to install, upgrade and uninstall The NVIDIA Accelerated\n  Graphics Driver Set for Linux-x86_64.\n\n'
        printf '  Copyright (C) 2003 - 2010 NVIDIA Corporation.\n\n'
        exit 0 ;;
    *" --uninstall "*)
        systemctl stop nvidia-persistenced 2>/dev/null
        rm -rf "/var/lib/dkms/nvidia/$VERSION" "/usr/src/nvidia-$VERSION"
        rm -f /usr/bin/nvidia-smi /usr/bin/nvidia-persistenced /usr/bin/nvidia-uninstall \
            /var/lib/gpufleet-sandbox/nvidia-module /usr/bin/nvidia-installer
        rmdir /var/lib/dkms/nvidia 2>/dev/null
        echo "Uninstallation of existing driver: NVIDIA Accelerated Graphics Driver for Linux-x86_64 ($VERSION) is complete." >/var/log/nvidia-uninstall.log
        exit 0 ;;
esac
printf 'ERROR: Unrecognized option: "%s"\n' "$1" >&2
exit 1
