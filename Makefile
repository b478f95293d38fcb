# nightowl: `make run` sets everything up and runs the daemon on ./config.toml;
# `make test` sets everything up and runs the whole test suite.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# systemd-python builds against libsystemd; systemd-analyze checks the unit in the tests
SYSTEM_PACKAGES := gcc pkg-config libsystemd-dev systemd
# the benchmark corpus renders MIDI files and speaks its podcasts
BENCH_PACKAGES := fluidsynth fluid-soundfont-gm espeak-ng festival festvox-us-slt-hts

.PHONY: run test setup system-packages bench-packages packages bench clean

run: setup
	$(BIN)/nightowl --config config.toml run

test: setup
	HF_HUB_OFFLINE=1 PYANNOTE_METRICS_ENABLED=0 $(BIN)/python -m pytest -q

setup: $(VENV)/.installed

system-packages:
	@$(MAKE) --no-print-directory packages PACKAGES="$(SYSTEM_PACKAGES)"

bench-packages:
	@$(MAKE) --no-print-directory packages PACKAGES="$(BENCH_PACKAGES)"

packages:
	@missing=""; for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "nightowl needs these system packages:$$missing (Debian/Ubuntu: sudo apt-get install$$missing)" >&2; exit 2; \
	  fi; \
	fi

$(VENV)/.installed: pyproject.toml | system-packages
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[systemd,test]'
	touch $@

bench: setup bench-packages
	$(BIN)/pip install -q -e '.[systemd,test,bench]'
	$(BIN)/python bench/corpus.py
	$(BIN)/python bench/lossless_accuracy.py
	$(BIN)/python bench/classify.py
	$(BIN)/python bench/held_out.py
	$(BIN)/python bench/long_files.py
	$(BIN)/python bench/hires_fakes.py
	$(BIN)/python bench/intake_cost.py
	$(BIN)/python bench/settle_latency.py
	$(BIN)/python bench/daemon_idle.py
	$(BIN)/python bench/large_library.py
	$(BIN)/python bench/restore.py
	$(BIN)/python bench/podcast.py

clean:
	rm -rf $(VENV) build daemon/*.egg-info
