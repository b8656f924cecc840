# The README's two commands: `make run` and `make test`. Only Python 3.11+ is needed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

HOST   ?= 127.0.0.1
PORT   ?= 8000

export PAYREQ_DATABASE_URL ?= sqlite:///var/payreq.db
export PAYREQ_BASE_URL ?= http://$(HOST):$(PORT)

.PHONY: run test install lint typecheck bench bench-extra clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "payreq needs Python 3.11 or newer"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# local development: webhooks may reach this machine (loopback), in every environment;
# a server where anyone can sign up leaves PAYREQ_WEBHOOK_ALLOW_PRIVATE unset
run: export PAYREQ_WEBHOOK_ALLOW_PRIVATE ?= 127.0.0.0/8,::1/128
run: install
	$(BIN)/payreq migrate
	$(BIN)/payreq demo
	PAYREQ_SIGNUP=$${PAYREQ_SIGNUP:-open} $(BIN)/payreq serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy
	$(BIN)/mypy --strict bench/*.py
	$(BIN)/mypy --strict tests/client/typed_usage.py examples/shop/shop.py

bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# the longer benches (about 10 minutes; bench/README.md): the table with its PostgreSQL
# rows, memory under 200,000 requests, the expiry sweep, webhook throughput and lag
bench-extra: install
	$(BIN)/python bench/run.py --database sqlite,postgresql $(BENCH_ARGS)
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/expiry.py
	$(BIN)/python bench/webhooks.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
