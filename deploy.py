"""gpufleet: bare Debian/Ubuntu GPU host -> vLLM servers under systemd. Tasks run in this order."""

from pyinfra import local

local.include("tasks/preflight.py")
local.include("tasks/driver.py")
local.include("tasks/cuda.py")
local.include("tasks/conda.py")
local.include("tasks/stack.py")
local.include("tasks/moe.py")
local.include("tasks/services.py")
local.include("tasks/bench.py")
