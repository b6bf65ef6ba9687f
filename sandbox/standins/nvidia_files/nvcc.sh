#!/bin/bash
# gpufleet sandbox stand-in for nvcc @NVCC_VERSION@ (sandbox/standins/nvidia.py). `--version`
# prints the real format; a compile writes its -o file as a stand-in fatbin (first line
# GPUFLEET-STANDIN-FATBIN, then `elf sm_XY` / `ptx sm_XY` per requested arch), so builds "work".
SM_MIN=@SM_MIN@
SM_MAX=@SM_MAX@
if [ "$1" = --version ] || [ "$1" = -V ]; then
    cat <<'VERSION_EOF'
nvcc: NVIDIA (R) Cuda compiler driver
Copyright (c) 2005-@YEAR@ NVIDIA Corporation
Built on @BUILT@
Cuda compilation tools, release @SHORT@, V@NVCC_VERSION@
Build cuda_@SHORT@.r@SHORT@/compiler.@BUILD@_0
VERSION_EOF
    exit 0
fi
out= codes=() src=
while [ $# -gt 0 ]; do
    case "$1" in
        -o) out=$2; shift ;;
        -o*) out=${1#-o} ;;
        -arch=sm_*|--gpu-architecture=sm_*) codes+=("elf ${1#*=}" "ptx ${1#*=}") ;;
        -gencode=*|--generate-code=*) spec=${1#*=} ;;
        -gencode|--generate-code) spec=$2; shift ;;
        -*) ;;
        *) src=$1 ;;
    esac
    if [ -n "${spec:-}" ]; then
        arch=$(sed -nE 's/.*arch=compute_([0-9]+).*/\1/p' <<<"$spec")
        code=$(sed -nE 's/.*code=\[?([a-z]+)_([0-9]+).*/\1 \2/p' <<<"$spec")
        [ "${code%% *}" = compute ] && codes+=("ptx sm_${code#* }") || codes+=("elf sm_${code#* }")
        spec=
    fi
    shift
done
for c in "${codes[@]}"; do
    n=${c##*_}
    if [ "$n" -lt "$SM_MIN" ] || [ "$n" -gt "$SM_MAX" ]; then
        echo "nvcc fatal   : Unsupported gpu architecture 'compute_$n'" >&2
        exit 1
    fi
done
[ -n "$out" ] || { [ -n "$src" ] && out="${src%.*}.o"; } || out=a.out
{ echo GPUFLEET-STANDIN-FATBIN; printf '%s\n' "${codes[@]}"; } >"$out"
