# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv and installs
# what it needs from the package registries; nothing else is downloaded.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# PyTorch is pinned here (a CPU build installs from this pin); the package itself declares a range.
TORCH_PIN := torch==2.13.0
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: demo test lint bench bench-irt bench-fashion-mnist bench-gpu clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The demo needs only the core: NumPy, SciPy, PyArrow, click and tqdm (no torch).
$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(PIP) -e .
	touch $@

# The development set, for the tests and benchmarks. Reinstall when the package metadata
# changes. torch goes first, pinned, so that nothing that depends on it pulls a newer build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) $(TORCH_PIN)
	$(PIP) -e ".[dev]"
	touch $@

demo: $(VENV)/.demo-installed
	$(BIN)/stepladder simulate --scenario grpo-math --strategies all --seed 0 --repeats 3 --out demo-out

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks scripts conftest.py
	$(BIN)/ruff format --check src tests benchmarks scripts conftest.py

test: lint chromium
	$(BIN)/python -m pytest -m "not bench"

# Headless Chromium for tests/report/test_browser.py (Debian's chromium; no other downloads).
chromium:
	@command -v chromium >/dev/null 2>&1 \
	  || (apt-get update -qq && apt-get install -y -qq chromium) \
	  || echo "Chromium missing: apt-get install -y chromium (as root); browser tests will skip"

# The strategies that have the safety net by default (Strategy.default_safety_net).
NETTED = --strategies uniform,mopps,cures,pcl,adarft,cdas,gain,dump,sec

# Long benchmarks: each script rewrites its own section of docs/benchmarks.md.
bench: $(VENV)/.installed
	$(BIN)/python benchmarks/hot_path.py
	$(BIN)/python benchmarks/gmm_fits.py
	$(BIN)/python benchmarks/knapsack_speed.py
	$(BIN)/python benchmarks/sim_strategies.py
	mkdir -p bench-out
	# Real GRPO, each strategy at its defaults, then the netted ones without the net (the
	# papers' methods), on regimes (a) and (b); the papers' sections merge both runs.
	$(BIN)/python benchmarks/grpo_cpu.py --save bench-out/grpo_cpu.json
	$(BIN)/python benchmarks/grpo_cpu.py --uniform-mix 0 --cover-groups 0 $(NETTED) \
	  --save bench-out/grpo_cpu_nonet.json
	$(BIN)/python benchmarks/grpo_cpu.py --render-from bench-out/grpo_cpu.json \
	  bench-out/grpo_cpu_nonet.json --uniform-mix 0 --cover-groups 0
	$(BIN)/python benchmarks/grpo_cpu.py --regime b --seeds 3 --save bench-out/grpo_cpu_b.json
	$(BIN)/python benchmarks/grpo_cpu.py --regime b --seeds 3 --uniform-mix 0 --cover-groups 0 \
	  $(NETTED) --save bench-out/grpo_cpu_b_nonet.json
	$(BIN)/python benchmarks/grpo_cpu.py --render-from bench-out/grpo_cpu_b.json \
	  bench-out/grpo_cpu_b_nonet.json --uniform-mix 0 --cover-groups 0
	$(BIN)/python benchmarks/gym_teachers.py --out docs/benchmarks.md
	$(MAKE) bench-fashion-mnist
	$(BIN)/python benchmarks/claims.py \
	  --results bench-out/grpo_cpu.json bench-out/grpo_cpu_nonet.json \
	  --results-b bench-out/grpo_cpu_b.json bench-out/grpo_cpu_b_nonet.json --fashion bench-out
	$(BIN)/python benchmarks/pcl_cost.py
	$(MAKE) bench-irt
	$(BIN)/python benchmarks/evaluation.py --out docs/benchmarks.md
	$(BIN)/python benchmarks/sim_vs_real.py --out docs/benchmarks.md
	$(BIN)/python -m pytest -m bench  # timing checks: every strategy's step cost vs pool size

# Supervised curricula on Fashion-MNIST (Debian's dataset-fashion-mnist; no downloads).
bench-fashion-mnist: $(VENV)/.installed
	@test -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz \
	  || dpkg -s dataset-fashion-mnist >/dev/null 2>&1 \
	  || (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) \
	  || { echo "Fashion-MNIST missing: apt-get install -y dataset-fashion-mnist (as root)"; exit 1; }
	mkdir -p bench-out
	$(BIN)/python benchmarks/fashion_mnist.py --json bench-out/fm.json

# IRT against py-irt, girth and mirt (installed into .venv-peers), the whole grade command
# against the floor (reading the log), and 100M responses.
bench-irt: $(VENV)/.installed
	$(BIN)/python benchmarks/irt_vs_peers.py
	$(BIN)/python benchmarks/grade_command.py
	$(BIN)/python benchmarks/irt_scale.py
	$(BIN)/python benchmarks/irt_patterns.py

# On a machine with a GPU: the GRPO benchmark sized for one H100 (results saved per seed).
bench-gpu: $(VENV)/.installed
	mkdir -p bench-out
	$(BIN)/python benchmarks/grpo_gpu.py --save bench-out/grpo_gpu.json

clean:
	rm -rf $(VENV) .venv-peers demo-out bench-out .pytest_cache .ruff_cache .hypothesis
