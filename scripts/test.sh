#!/usr/bin/env bash
# Every check CI makes: lint, formatting, types, import direction, then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== ruff";          .venv/bin/ruff check bot tests scripts
echo "== ruff format";   .venv/bin/ruff format --check bot tests scripts
echo "== mypy";          .venv/bin/mypy
echo "== import-linter"; .venv/bin/lint-imports
echo "== pytest";        .venv/bin/pytest -n "${PYTEST_WORKERS:-3}" "$@"
