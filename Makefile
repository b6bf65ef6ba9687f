# gpufleet — every target installs what it needs, idempotently.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-fast lint demo venv clean apt-deps

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# Debian packages the tests read (pci.ids: the GPU catalogue is cross-checked against it).
APT_DEPS := pci.ids
apt-deps:
	@missing=$$(for p in $(APT_DEPS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing; \
		else echo "make: missing Debian packages (run as root to install): $$missing"; fi; \
	fi

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint apt-deps
	$(BIN)/pytest -q

test-fast: lint apt-deps
	$(BIN)/pytest -q -m "not e2e"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info

# --- Sandbox: real Debian hosts (systemd-nspawn) + local mirror; needs root. See README. ---
SANDBOX_HOSTS ?= 3

.PHONY: sandbox-up sandbox-down sandbox-status

sandbox-up: venv
	$(BIN)/python -m sandbox up $(SANDBOX_HOSTS)

# stdlib only: works even without the venv (e.g. after `make clean`)
sandbox-down:
	$(PY) -m sandbox down

sandbox-status:
	$(PY) -m sandbox status

demo: sandbox-up
	$(BIN)/pyinfra -y inventories/sandbox.py deploy.py
	$(BIN)/python -m sandbox.demo
	$(BIN)/gpufleet bench-serving inventories/sandbox.py --num-prompts 32

# --- Benchmark: deploy time vs host count on sandbox cluster 2 (README "Performance"); root. ---
BENCH_ARGS ?=

.PHONY: bench

bench: venv
	$(BIN)/pip install -q -e '.[bench]'
	GPUFLEET_SANDBOX_ID=$${GPUFLEET_SANDBOX_ID:-2} $(BIN)/python bench/deploy_scaling.py $(BENCH_ARGS)

# --- Soak: a fleet-wide vLLM rollout under load through the gateway (README "Gateway"). ---
# Brings up its own sandbox cluster (id 4: 4 serving hosts + a gateway) and takes it down after;
# prints requests sent, failed and p99 latency per scenario. Needs root, like the sandbox.
.PHONY: soak

soak: venv
	env -u GPUFLEET_SANDBOX_ID $(BIN)/pytest -q -s tests/e2e/test_rollout_under_load.py
