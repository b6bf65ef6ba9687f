#!/bin/bash
# gpufleet sandbox stand-in for cuobjdump (sandbox/standins/nvidia.py). CONTRACT: a stand-in
# fatbin is text whose first line is GPUFLEET-STANDIN-FATBIN, then `elf sm_70` / `ptx sm_80`
# lines. --list-elf prints `ELF file    N: <basename>.N.sm_70.cubin` per elf line, --list-ptx
# `PTX file    N: <basename>.N.sm_80.ptx` per ptx line, numbered from 1 in each list; any other
# file: `cuobjdump info    : File '<path>' does not contain device code`, exit 0.
elf= ptx= files=()
for arg in "$@"; do
    case "$arg" in
        --list-elf|-lelf) elf=1 ;;
        --list-ptx|-lptx) ptx=1 ;;
        -*) echo "cuobjdump fatal   : Unknown option '$arg'" >&2; exit 1 ;;
        *) files+=("$arg") ;;
    esac
done
[ ${#files[@]} -gt 0 ] || { echo "cuobjdump fatal   : No input file specified" >&2; exit 1; }
for f in "${files[@]}"; do
    [ -f "$f" ] || { echo "cuobjdump fatal   : Could not open input file '$f'" >&2; exit 1; }
    if [ "$(head -n 1 "$f" 2>/dev/null)" != GPUFLEET-STANDIN-FATBIN ]; then
        echo "cuobjdump info    : File '$f' does not contain device code"
        continue
    fi
    base=$(basename "$f")
    [ -n "$elf" ] && awk -v b="$base" '$1 == "elf" { n++; printf "ELF file    %d: %s.%d.%s.cubin\n", n, b, n, $2 }' "$f"
    [ -n "$ptx" ] && awk -v b="$base" '$1 == "ptx" { n++; printf "PTX file    %d: %s.%d.%s.ptx\n", n, b, n, $2 }' "$f"
done
exit 0
