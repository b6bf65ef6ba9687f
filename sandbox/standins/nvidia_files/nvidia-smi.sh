#!/bin/bash
# gpufleet sandbox stand-in for nvidia-smi (made by sandbox/standins/nvidia.py): there is no GPU
# in the sandbox. Reads the host's model from /etc/gpufleet-sandbox/gpu (count: gpu_count,
# default 1) and prints what the real nvidia-smi prints for it, in the real formats.
DRIVER=@VERSION@
CUDA=@CUDA@
SANDBOX=${GPUFLEET_SANDBOX_ETC:-/etc/gpufleet-sandbox}  # the override is for tests/sandbox
model=$(cat $SANDBOX/gpu 2>/dev/null)
count=$(cat $SANDBOX/gpu_count 2>/dev/null || echo 1)
STATE=${GPUFLEET_SANDBOX_STATE:-/var/lib/gpufleet-sandbox}
flavour=$(cat $STATE/nvidia-module 2>/dev/null)
cc=
case "$model" in
@TABLE@
esac
# No GPU, or the open kernel module on a GPU without GSP (before Turing): the real tool says so.
if [ -z "$cc" ] || { [ "$flavour" = open ] && [ "${cc/./}" -lt 75 ]; }; then
    echo "No devices were found"
    exit 6
fi

uuid() { printf '%s-%s' "$(cat /etc/hostname 2>/dev/null)" "$1" | md5sum | sed -E 's/^(.{8})(.{4})(.{4})(.{4})(.{12}).*/GPU-\1-\2-\3-\4-\5/'; }
bus_id() { printf '00000000:%02X:00.0' $((0x1a + $1)); }

field() {  # field NAME INDEX NOUNITS
    local unit=" MiB"; [ -n "$3" ] && unit=
    case "$1" in
        index) echo "$2" ;;
        name) echo "$model" ;;
        compute_cap) echo "$cc" ;;
        driver_version) echo "$DRIVER" ;;
        memory.total) echo "$mem$unit" ;;
        memory.used) echo "0$unit" ;;
        memory.free) echo "$mem$unit" ;;
        pci.bus_id) bus_id "$2" ;;
        pci.device_id) echo "0x${pci^^}10DE" ;;
        uuid) uuid "$2" ;;
        persistence_mode) echo "Enabled" ;;
        *) return 1 ;;
    esac
}

query_gpus() {  # FIELDS FORMAT
    local noheader= nounits= f out i
    [[ "$2" == *noheader* ]] && noheader=1
    [[ "$2" == *nounits* ]] && nounits=1
    IFS=, read -ra fields <<<"$1"
    if [ -z "$noheader" ]; then
        out=(); for f in "${fields[@]}"; do out+=("$f"); done
        (IFS=,; echo "${out[*]}") | sed 's/,/, /g'
    fi
    for ((i = 0; i < count; i++)); do
        out=()
        for f in "${fields[@]}"; do
            v=$(field "$f" "$i" "$nounits") || { echo "Field \"$f\" is not a valid field to query."; exit 2; }
            out+=("$v")
        done
        (IFS=$'\x1f'; echo "${out[*]}") | sed 's/\x1f/, /g'
    done
}

query_apps() {  # lines "pid, process_name, used_memory" a test put in the processes file
    [ -f $STATE/gpu-processes ] && cat $STATE/gpu-processes
    return 0
}

table() {
    date '+%a %b %e %H:%M:%S %Y       '
    local line='+-----------------------------------------------------------------------------------------+'
    local cols='+-----------------------------------------+------------------------+----------------------+'
    echo "$line"
    printf '| NVIDIA-SMI %-23sDriver Version: %-15sCUDA Version: %-9s|\n' "$DRIVER" "$DRIVER" "$CUDA"
    echo "$cols"
    echo '| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |'
    echo '| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |'
    echo '|                                         |                        |               MIG M. |'
    echo '|=========================================+========================+======================|'
    for ((i = 0; i < count; i++)); do
        printf '|%4s  %-30s%3s  |%19s %3s |%21s |\n' "$i" "$model" On "$(bus_id $i)" Off 0
        printf '| N/A   %2dC    P0  %14s / %5s |%11s / %9s |%8s%13s |\n' 34 40W 250W 0MiB "${mem}MiB" 0% Default
        printf '|                                         |                        |%21s |\n' N/A
        echo "$cols"
    done
    echo
    echo "$line"
    echo '| Processes:                                                                              |'
    echo '|  GPU   GI   CI              PID   Type   Process name                        GPU Memory |'
    echo '|        ID   ID                                                               Usage      |'
    echo '|=========================================================================================|'
    if [ -s $STATE/gpu-processes ]; then
        while IFS=', ' read -r pid name used; do
            printf '|%5s   N/A  N/A  %14s  %5s   %-30s%11s |\n' 0 "$pid" C "$name" "${used}MiB"
        done <$STATE/gpu-processes
    else
        echo '|  No running processes found                                                             |'
    fi
    echo "$line"
}

query= apps= format=csv
for arg in "$@"; do
    case "$arg" in
        --query-gpu=*) query=${arg#*=} ;;
        --query-compute-apps=*) apps=${arg#*=} ;;
        --format=*) format=${arg#*=} ;;
        --version)
            printf 'NVIDIA-SMI version  : %s\nNVML version        : %s\nDRIVER version      : %s\nCUDA Version        : %s\n' \
                "$DRIVER" "${DRIVER%.*}" "$DRIVER" "$CUDA"
            exit 0 ;;
        -pm|1|0|--persistence-mode=*) ;;
        *) echo "ERROR: Option $arg is not recognized. Please run 'nvidia-smi -h'."; exit 2 ;;
    esac
done
if [ -n "$query" ]; then query_gpus "$query" "$format"
elif [ -n "$apps" ]; then query_apps
elif [[ " $* " == *" -pm "* ]]; then
    for ((i = 0; i < count; i++)); do echo "Enabled persistence mode for GPU $(bus_id $i)."; done
    echo "All done."
else table
fi
