#!/bin/bash
# gpufleet sandbox stand-in for nvidia-persistenced (sandbox/standins/nvidia.py): forks like the
# real daemon, writes its PID file and sleeps; accepts the real flags.
for arg in "$@"; do
    case "$arg" in
        --verbose|-V|--persistence-mode|--no-persistence-mode|--user=*|--group=*|-u|--user|\
        --group|-g|nvidia-persistenced) ;;
        *) echo "nvidia-persistenced: Unrecognized option: '$arg'" >&2; exit 1 ;;
    esac
done
[ -x /usr/bin/nvidia-smi ] && /usr/bin/nvidia-smi --query-gpu=index --format=csv,noheader >/dev/null ||
    { echo "nvidia-persistenced failed to initialize. Check syslog for more details." >&2; exit 1; }
mkdir -p /var/run/nvidia-persistenced
setsid sleep infinity </dev/null >/dev/null 2>&1 &
echo $! >/var/run/nvidia-persistenced/nvidia-persistenced.pid
exit 0
