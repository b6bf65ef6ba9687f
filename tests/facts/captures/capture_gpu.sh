#!/bin/bash
# Captures the raw command output the gpufleet facts parse, on a real NVIDIA GPU host.
# Writes a few files (one per tool) with "=== name ===" separators under $1 (default: .).
# Run as: bash tests/facts/captures/capture_gpu.sh "$OUT"
out=${1:-.}
sec() { echo "=== $1 ==="; shift; echo "\$ $*"; bash -c "$*" 2>&1; echo "[rc=$?]"; }
GPUQ='nvidia-smi --query-gpu=index,name,compute_cap,driver_version,memory.total,pci.bus_id,uuid --format=csv,noheader,nounits'
APPQ='nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader,nounits'
{
  sec date 'date -u +%FT%TZ'
  sec uname 'uname -a; uname -r'
  sec os-release 'cat /etc/os-release'
  sec gpus-idle "$GPUQ"
  sec apps-idle "$APPQ"
  sec nvidia-smi 'nvidia-smi'
  sec nvidia-smi-q 'nvidia-smi -q | head -80'
  sec driver-version 'cat /proc/driver/nvidia/version'
  sec driver-version-fallback 'cat /proc/driver/nvidia/version 2>/dev/null || true'
  sec modules 'grep -i -E "nvidia|nouveau" /proc/modules; echo "lsmod:"; command -v lsmod && lsmod | grep -i -E "nvidia|nouveau"'
  sec smi-version 'nvidia-smi --version'
  sec nouveau-fact 'grep -q "^nouveau " /proc/modules && echo yes || echo no'
} >"$out/nvidia.txt" 2>&1
# A GPU process: hold 1 GiB for 25 s and query while it runs.
python3 -c "import torch,time; x=torch.ones(1<<28,device='cuda'); torch.cuda.synchronize(); time.sleep(25)" &
pid=$!
sleep 12
{
  sec busy-pid "echo $pid"
  sec apps-busy "$APPQ"
  sec gpus-busy "$GPUQ"
  sec nvidia-smi-busy 'nvidia-smi'
} >"$out/busy.txt" 2>&1
wait $pid
{
  sec apps-after "$APPQ"
  sec ls-cuda 'ls -d /usr/local/cuda*; ls -la /usr/local | grep -i cuda'
  sec version-json 'for d in /usr/local/cuda*; do echo "--- $d/version.json"; cat "$d/version.json"; done'
  sec version-txt 'for d in /usr/local/cuda*; do echo "--- $d/version.txt"; cat "$d/version.txt"; done'
  sec which-nvcc 'which nvcc; ls /usr/local/cuda*/bin/nvcc'
  sec nvcc-version 'nvcc --version'
  sec nvcc-per-dir 'for d in /usr/local/cuda*; do echo "--- $d"; "$d/bin/nvcc" --version; done'
  sec cuda-json-grep 'grep -A3 "\"cuda\"" /usr/local/cuda*/version.json'
  sec cuda-fact 'for d in /usr/local/cuda-[0-9]*; do [ -d "$d" ] || continue; echo "@@ $d"; if [ -f "$d/version.json" ]; then cat "$d/version.json"; elif [ -x "$d/bin/nvcc" ]; then "$d/bin/nvcc" --version; elif [ -f "$d/version.txt" ]; then cat "$d/version.txt"; fi; done'
  sec cuda-realpath 'for d in /usr/local/cuda*; do echo "$d -> $(readlink -f $d)"; done'
  sec torch 'python3 -c "import torch;print(torch.__version__,torch.version.cuda,torch.cuda.get_arch_list())"'
} >"$out/cuda.txt" 2>&1
{
  sec which-lspci 'command -v lspci; ls /usr/bin/lspci /sbin/lspci /usr/sbin/lspci'
  sec lspci-Dnn 'lspci -Dnn'
  sec sys-pci 'ls /sys/bus/pci/devices'
  sec sys-nvidia 'for d in /sys/bus/pci/devices/*; do v=$(cat $d/vendor 2>/dev/null); [ "$v" = 0x10de ] && echo "$(basename $d) vendor=$v device=$(cat $d/device) class=$(cat $d/class) subsys=$(cat $d/subsystem_vendor 2>/dev/null):$(cat $d/subsystem_device 2>/dev/null)"; done'
  sec sys-all 'for d in /sys/bus/pci/devices/*; do echo "$(basename $d) $(cat $d/vendor) $(cat $d/device) $(cat $d/class)"; done'
  sec proc-pci 'head -20 /proc/bus/pci/devices'
} >"$out/pci.txt" 2>&1
{
  sec which 'command -v dpkg apt-cache apt-mark apt'
  sec dpkg-head 'dpkg -l | head -60'
  sec dpkg-grep 'dpkg -l | grep -i -E "nvidia|cuda|linux-image|gcc"'
  sec dpkg-count 'dpkg -l | wc -l'
  sec policy-multi 'apt-cache policy cuda-toolkit-13-0 libnvidia-compute-580 gcc dkms nonexistentpkg'
  for p in cuda-toolkit-13-0 libnvidia-compute-580 gcc dkms cuda-nvcc-13-0 python3 nonexistentpkg; do
    sec "policy $p" "apt-cache policy $p"
  done
  sec showhold 'apt-mark showhold'
  sec showhold-gcc 'apt-mark showhold gcc'
} >"$out/apt.txt" 2>&1
# Our fact commands through pyinfra's local connector, if pyinfra is there (it usually is not).
{
  sec pyinfra 'python3 -c "import pyinfra; print(pyinfra.__version__)"'
} >"$out/pyinfra.txt" 2>&1
ls -la "$out"
