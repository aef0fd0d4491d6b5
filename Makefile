# Berth: `make up` runs the platform; `make test` runs the whole suite. Both install what is missing.
.PHONY: up test lint typecheck unit bench clean

up:
	scripts/bootstrap.sh
	.venv/bin/berth up

test:
	scripts/bootstrap.sh --dev
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	cd frontend && npm test --silent
	.venv/bin/pytest

lint:
	scripts/bootstrap.sh --dev
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

unit:
	scripts/bootstrap.sh --dev
	.venv/bin/pytest -m "not integration and not e2e"

bench:
	scripts/bootstrap.sh --dev
	.venv/bin/python bench/deploy_latency.py
	.venv/bin/python bench/memory.py
	.venv/bin/python bench/zero_downtime.py
	.venv/bin/python bench/logs.py
	.venv/bin/python bench/health.py
	.venv/bin/python bench/recovery.py
	.venv/bin/python bench/durability.py
	.venv/bin/python bench/status_lag.py
	.venv/bin/python bench/probes.py
	.venv/bin/python bench/cron.py

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
