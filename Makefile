# One-command set-up: every target creates (or reuses) .venv and installs the project into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint bench golden schema docs clean interop fuzz serve-flood

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "ikesim needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	@$(BIN)/python -m sim.demo

lint: $(STAMP)
	$(BIN)/ruff check sim tests bench docs/examples interop
	$(BIN)/ruff format --check sim tests bench docs/examples interop
	$(BIN)/mypy
	$(BIN)/mypy --strict interop
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest -q
	$(BIN)/ikesim check scenarios/

# The fuzz tests of tests/test_fuzz.py, long: the `fuzz` Hypothesis profile (no deadline, no example cap)
# for FUZZ_SECONDS in all, shared between the tests; the summary says each test's examples per second.
FUZZ_SECONDS ?= 600
fuzz: $(STAMP)
	IKESIM_FUZZ=1 IKESIM_FUZZ_SECONDS=$(FUZZ_SECONDS) $(BIN)/pytest -q -p no:randomly tests/test_fuzz.py \
		--hypothesis-show-statistics

# Real daemons (strongSwan's charon) in network namespaces: re-records tests/data/interop and
# fails when they and ikesim disagree beyond interop/expected.py. Needs root; skips without it.
interop: $(STAMP)
	$(BIN)/python -m interop

golden: $(STAMP)
	$(BIN)/python -m sim.tools.golden

schema: $(STAMP)
	$(BIN)/python -m sim.tools.schema

docs: $(STAMP)
	$(BIN)/python -m sim.tools.docs

bench: $(STAMP)
	$(BIN)/python -m bench
	$(BIN)/python -m bench.strategies

# `ikesim serve` on 127.0.0.0/8 under floods (issue 18): amplification per profile, a new initiator after
# 20,000 MM1s from 4,000 ports, memory of 10,000 held negotiations. About five minutes; see docs/live.md.
serve-flood: $(STAMP)
	$(BIN)/python -m bench.serve_flood

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis
