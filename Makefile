# One front door. `make demo` runs the bot offline; `make test` runs every check CI runs.
# Both install what they need first (uv into .tools/, then the locked dependencies into .venv/).
PY ?= python3
UV := .tools/bin/uv
export UV_PROJECT_ENVIRONMENT := .venv

.PHONY: demo test setup lint bench clean

$(UV):
	$(PY) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==0.13.9

setup: $(UV)
	$(UV) sync --frozen --extra sandbox --quiet

demo: setup
	.venv/bin/sre-bot demo

test: setup
	bash scripts/test.sh

lint: setup
	.venv/bin/ruff check bot tests scripts
	.venv/bin/ruff format --check bot tests scripts
	.venv/bin/mypy
	.venv/bin/lint-imports

clean:
	rm -rf .venv .tools var
