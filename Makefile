# Every target sets itself up from this repo's own files: a fresh clone needs only `make`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: setup test test-slow lint format demo clean package deploy bench chaos compare scale typecheck-links

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "baton needs Python 3.11 or newer (found " + sys.version.split()[0] + "); set PYTHON=python3.12"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

# mypy cannot follow the editable install's import hook (baton.handler -> handler/, ...):
# it reads the packages through these links (pyproject's mypy_path).
TYPECHECK := build/typecheck/baton
typecheck-links:
	@mkdir -p $(TYPECHECK) && for p in handler store cli local infra; do ln -sfn ../../../$$p $(TYPECHECK)/$$p; done

setup: $(STAMP) typecheck-links

# The suite in minutes: every test but the long sweeps (marked `slow`). Each test file runs whole
# on one worker (--dist loadfile: module-scoped servers are built once and a file's closing check
# sees its own sweep). Three workers on two cores: the local-stack files mostly wait on real hops,
# so a third worker keeps both cores busy; they start first (tests/conftest.py), which is why
# pytest-xdist's own reordering (most tests first) is off.
TEST_WORKERS ?= 3
XDIST := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
test: $(STAMP)
	$(BIN)/python -m pytest $(XDIST) -p no:cacheprovider -m "not slow" $(PYTEST_ARGS)

# The long sweeps: more seeds and schedules of what `make test` already checks (.ci/run runs both).
# pytest exits 5 when it selects no test: a tree without slow tests passes.
test-slow: $(STAMP)
	$(BIN)/python -m pytest $(XDIST) -p no:cacheprovider -m slow $(PYTEST_ARGS) \
		|| { rc=$$?; [ $$rc -eq 5 ] && echo "test-slow: no slow tests selected"; [ $$rc -eq 5 ]; }

# Deterministic protocol simulation (tests/sim): 100,000 schedules with every fault kind on, or
# a time budget (CHAOS_SECONDS=600); CHAOS_JOBS=2 uses two processes. Prints the count.
chaos: $(STAMP)
	$(BIN)/python -m tests.sim.chaos

# docs/classic-recipe.md: baton and the classic re-invoke recipe under the same faults.
compare: $(STAMP)
	$(BIN)/python -m tests.sim.compare --out docs/classic-recipe.md

# The main job on the embedded local stack (moto's server + a local Lambda service), checked
# against the bucket: no AWS account needed. `make demo DEMO_ARGS="--chaos"` adds faults.
DEMO_ARGS ?=
demo: $(STAMP)
	$(BIN)/baton demo $(DEMO_ARGS)

lint: $(STAMP) typecheck-links
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m tests.support.architecture
	$(BIN)/cfn-lint infra/template.yaml
	$(BIN)/python -m infra.sam transform --out build/infra/template.cfn.json
	$(BIN)/cfn-lint build/infra/template.cfn.json
	$(BIN)/python -m infra.rehearsal

# docs/benchmarks.md, its plots and README.md's generated block of figures, measured on the local
# stack (about 15 minutes on 2 cores).
BENCH_STAMP := $(VENV)/.bench-$(shell cksum pyproject.toml | cut -d' ' -f1)
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	rm -f $(VENV)/.bench-*
	touch $@

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks --out docs/benchmarks.md --save build/bench/results.json

# docs/scale.md and its plots: s3-fanout count over 100 million objects (256 shards) and a
# 10,000-shard fan-out through the virtual-time twin of S3, DynamoDB and Lambda (benchmarks/twin/), with
# the scale limits it finds. SCALE_ARGS="--small" runs everything at a hundredth of the size.
SCALE_ARGS ?=
scale: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.twin.scale --out docs/scale.md $(SCALE_ARGS)

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The Lambda package (code + runtime deps for the template's runtime and architecture), proven
# to import in a fresh virtual environment; prints its size.
# Your code: USER_CODE=folder-or-project (space-separated for several), REQUIREMENTS=file,
# USER_MODULES=a,b (what BATON_TASK_MODULES / BATON_ACTION_MODULES list; verify imports them).
# Without a Python of the runtime's version (python3.13) the build stops; ALLOW_NO_BYTECODE=1
# ships sources only (every cold start then compiles them).
USER_CODE ?=
REQUIREMENTS ?=
USER_MODULES ?=
ALLOW_NO_BYTECODE ?=
package: $(STAMP)
	$(BIN)/python -m infra.package build --out build/lambda $(foreach p,$(USER_CODE),--user-code $(p)) $(if $(REQUIREMENTS),--requirements $(REQUIREMENTS)) $(if $(USER_MODULES),--modules $(USER_MODULES)) $(if $(ALLOW_NO_BYTECODE),--allow-no-bytecode)
	$(BIN)/python -m infra.package verify --out build/lambda

# The SAM CLI pins older boto3 and click: it gets its own virtual environment, made here only.
SAM_VENV  := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed
$(SAM_STAMP):
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet 'aws-sam-cli>=1.170,<2'
	touch $@

# A thin wrapper of `baton deploy` (which any pip-installed baton has): it builds the package as
# `make package` does and deploys with the SAM CLI of .venv-sam. The first run (no
# baton-deploy.toml) asks like `sam deploy --guided` and remembers the answers there.
# DEPLOY_ARGS: more options of `baton deploy` (e.g. --parameter ReadBuckets=a,b --yes).
DEPLOY_ARGS ?=
deploy: $(STAMP) $(SAM_STAMP)
	PATH="$(CURDIR)/$(SAM_VENV)/bin:$$PATH" $(BIN)/baton deploy $(if $(wildcard baton-deploy.toml),,--guided) --out build/lambda $(foreach p,$(USER_CODE),--user-code $(p)) $(if $(REQUIREMENTS),--requirements $(REQUIREMENTS)) $(if $(USER_MODULES),--modules $(USER_MODULES)) $(if $(ALLOW_NO_BYTECODE),--allow-no-bytecode) $(DEPLOY_ARGS)

clean:
	rm -rf $(VENV) $(SAM_VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
