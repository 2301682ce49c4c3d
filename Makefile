# The user's entry points. `make demo` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CHECKOV_VENV := .venv-checkov
STAMP := $(VENV)/.installed
ENVIRONMENT ?= demo
ENDPOINT_URL ?=
DEVICES ?= 20
SHELF_DEVICES ?= 5
RATE ?= 1
DURATION ?= 30
TLS ?= 1
INGEST_PATH ?= direct
DRILL_DURATION ?= 40
ENDPOINT_FLAG := $(if $(ENDPOINT_URL),--endpoint-url $(ENDPOINT_URL))
PARAMS ?=
PARAM_FLAGS := $(foreach param,$(PARAMS),--param $(param))
FLEET ?=
TYPE ?=
YES ?=
AWS ?=
LOCAL ?=
SERVICE ?=
# The hint every target that needs a stack gives when STACK is missing: $(call need_stack,<target>)
need_stack = test -n "$(STACK)" || { echo "name the stack: make $(1) STACK=network (see: make synth)"; exit 2; }

.PHONY: help install system-packages test test-fast lint format demo drill down synth golden deploy deploy-all destroy \
        diff outputs smoke simulate load-metadata replay queues watch logs backup restore bench cost capacity profile clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

install: $(STAMP) system-packages ## virtual environments and the local servers (idempotent)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed (found $$($(PYTHON) --version)); set PYTHON=python3.11"; exit 1; }
	@echo "[1/3] the virtual environment $(VENV) and a current pip"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@echo "[2/3] the project and its development tools (a few minutes the first time)"
	$(PY) -m pip install --progress-bar on -e '.[dev]'
	@echo "[3/3] checkov in its own environment $(CHECKOV_VENV) (a few minutes the first time)"
	test -x $(CHECKOV_VENV)/bin/checkov || { $(PYTHON) -m venv $(CHECKOV_VENV) && \
		$(CHECKOV_VENV)/bin/pip install --progress-bar on 'checkov>=3.2,<4'; }
	touch $@
	@echo "installed: $(VENV) and $(CHECKOV_VENV)"

system-packages: ## influxd, influx, mosquitto and MariaDB, from the system's packages
	@missing=""; for b in influxd influx mosquitto mariadbd mariadb-install-db mariadb; do \
		PATH="$$PATH:/usr/sbin:/usr/local/sbin" command -v $$b >/dev/null || missing="$$missing $$b"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	echo "missing:$$missing"; \
	if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq influxdb influxdb-client mosquitto mariadb-server mariadb-client; \
	elif command -v apt-get >/dev/null && command -v sudo >/dev/null; then \
		sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq influxdb influxdb-client mosquitto mariadb-server mariadb-client; \
	else \
		echo "Install them yourself, then run make again:"; \
		echo "  Debian/Ubuntu: sudo apt-get install influxdb influxdb-client mosquitto mariadb-server mariadb-client"; \
		echo "  macOS (Homebrew): brew install influxdb@1 mosquitto mariadb   (influxdb@1 provides influxd and influx 1.x)"; \
		exit 1; \
	fi

test: install ## the whole test suite against real influxd, mosquitto and moto
	$(PY) -m pytest

test-fast: install ## the pure tests only: no service is started (seconds)
	$(PY) -m pytest -q -m pure -p no:cacheprovider

lint: install ## ruff, mypy, cfn-lint and checkov on every template
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m infrastructure synth --check
	$(VENV)/bin/cfn-lint build/templates/*.json
	$(CHECKOV_VENV)/bin/checkov --framework cloudformation --skip-download --quiet --compact -d build/templates

format: install ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

demo: install ## the whole pipeline on this machine, no AWS account needed (devices over mutual TLS; TLS=0: the plain listener; INGEST_PATH=queued)
	$(PY) -m sandbox demo --devices pressure=$(DEVICES) --devices shelf=$(SHELF_DEVICES) --rate $(RATE) --duration $(DURATION) \
		--ingest-path $(INGEST_PATH) $(if $(filter 0,$(TLS)),--no-device-tls,--device-tls)

down: ## stop every local service
	@if [ -x $(PY) ]; then $(PY) -m sandbox down; else echo "nothing installed, nothing running"; fi

synth: install ## write every stack's template to build/templates/
	$(PY) -m infrastructure synth

golden: install ## write the reviewed templates (infrastructure/golden/) after a stack changed, for the diff
	$(PY) -m infrastructure synth --update-golden

deploy: install ## deploy one stack: make deploy STACK=network [PARAMS="Key=Value ..."] [ENDPOINT_URL=...]
	@$(call need_stack,deploy)
	$(PY) -m infrastructure deploy $(STACK) --environment $(ENVIRONMENT) $(ENDPOINT_FLAG) $(PARAM_FLAGS)

deploy-all: install ## deploy every stack in dependency order
	$(PY) -m infrastructure deploy --all --environment $(ENVIRONMENT) $(ENDPOINT_FLAG)

destroy: install ## delete one stack (STACK=...) or all of them, in reverse order; asks first (YES=1: does not)
	$(PY) -m infrastructure destroy $(if $(STACK),$(STACK),--all) --environment $(ENVIRONMENT) $(ENDPOINT_FLAG) \
		$(if $(YES),--yes)

diff: install ## what a deploy of STACK would change: make diff STACK=network
	@$(call need_stack,diff)
	$(PY) -m infrastructure diff $(STACK) --environment $(ENVIRONMENT) $(ENDPOINT_FLAG)

outputs: install ## a stack's outputs: make outputs STACK=network
	@$(call need_stack,outputs)
	$(PY) -m infrastructure outputs $(STACK) --environment $(ENVIRONMENT) $(ENDPOINT_FLAG)

smoke: install ## after a deploy: the stacks, Grafana through CloudFront, one reading from a test thing to the store (LOCAL=1: the sandbox)
	$(PY) -m ingest_tools.smoke --environment $(ENVIRONMENT) $(if $(LOCAL),--local)

simulate: install ## a fleet against the local pipeline: DEVICES pressure devices and SHELF_DEVICES shelves, or TYPE=<kind>: DEVICES of that kind only
	$(PY) -m simulator run --type $(or $(TYPE),pressure) --devices $(DEVICES) --rate $(RATE) --duration $(DURATION)
	@if [ -z "$(TYPE)" ] && [ "$(SHELF_DEVICES)" -gt 0 ]; then \
		$(PY) -m simulator run --type shelf --devices $(SHELF_DEVICES) --rate $(RATE) --duration $(DURATION); fi

load-metadata: install ## device metadata into the local sandbox's table: make load-metadata FILE=sample-data/device-metadata.json (AWS=1: the deployed one)
	@test -n "$(FILE)" || { echo "name the file: make load-metadata FILE=sample-data/device-metadata.json"; exit 2; }
	$(PY) -m ingest_tools.load_metadata $(FILE) --environment $(ENVIRONMENT) $(if $(AWS),--aws)

replay: install ## drain the dead-letter queue back through the ingest code
	$(PY) -m ingest_tools.replay $(if $(QUEUE),--queue $(QUEUE))

queues: install ## the rejected readings and dead letters with reasons and ages, peeked (QUEUE=rejected|dead-letter; AWS=1)
	$(PY) -m ingest_tools.queues list $(if $(QUEUE),--queue $(QUEUE)) --environment $(ENVIRONMENT) $(if $(AWS),--aws)

watch: install ## a live view of the running sandbox: readings a second per kind, latest sensors, rejections (Ctrl-C stops)
	$(PY) -m sandbox watch

logs: install ## the local services' logs, followed until Ctrl-C (SERVICE=<name>: one only)
	$(PY) -m sandbox logs --follow $(SERVICE)

backup: install ## a backup of the local InfluxDB into build/backups/<UTC time> (on AWS the task makes them: docs/deploying.md)
	$(PY) -m ingest_tools.influx_backup backup

restore: install ## a backup back into the running InfluxDB: BACKUP=build/backups/<time> locally, BACKUP=s3://... on AWS
	@test -n "$(BACKUP)" || { echo "name the backup: make restore BACKUP=build/backups/<time> (or s3://<bucket>/influxdb/<time>/)"; exit 2; }
	$(if $(filter s3://%,$(BACKUP)),$(PY) -m infrastructure deploy influxdb --environment $(ENVIRONMENT) $(ENDPOINT_FLAG) \
		--param RestoreBackup=$(BACKUP),$(PY) -m ingest_tools.influx_backup restore $(BACKUP))

drill: install ## stop each part mid-stream, replay, count: lost and duplicated must be 0 (INGEST_PATH=direct|queued|stream)
	$(PY) -m sandbox drill --ingest-path $(INGEST_PATH) --devices pressure=$(DEVICES) --devices shelf=$(SHELF_DEVICES) \
		--rate $(RATE) --duration $(DRILL_DURATION)

bench: install ## every case beside its ceiling, end to end too: a table and build/bench/results.json (BENCH_ARGS=--quick)
	$(PY) -m benchmarks $(BENCH_ARGS)

cost: install ## cost per million readings and per month, from prices.yaml and the measured handler time
	$(PY) -m benchmarks.cost --write-doc

capacity: install ## the deployment that carries a fleet, and the quotas to raise: make capacity [FLEET=devices] [RATE=per device]
	$(PY) -m benchmarks.cost --capacity $(if $(FLEET),--fleet $(FLEET)) --rate $(RATE)

profile: install ## where the handler's time goes on the queued path (pyinstrument call tree)
	$(PY) -m benchmarks.profile_handler

clean: down ## remove local state and build output
	rm -rf .sandbox build
