# One front door. `make demo` runs the bot offline; `make test` runs every check CI runs.
# Both install what they need first (uv into .tools/, then the locked dependencies into .venv/).
PY ?= python3
UV := .tools/bin/uv
export UV_PROJECT_ENVIRONMENT := .venv

.PHONY: demo test unit setup lint bench clean

$(UV):
	$(PY) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==0.13.9

setup: $(UV)
	$(UV) sync --frozen --extra sandbox --quiet

demo: setup
	.venv/bin/sre-bot demo

test: setup
	bash scripts/test.sh

# The fast loop (well under a minute): the pure analysis, parsing, rendering and loop tests, no estates or servers.
UNIT := $(wildcard tests/test_analysis_*.py) tests/test_anomaly.py tests/test_ranking.py tests/test_change_detail.py \
	tests/test_slack_parsers.py tests/test_slack_blocks.py tests/test_slack_safety.py tests/test_steering.py \
	tests/test_config.py tests/test_patterns.py tests/test_knowledge.py tests/test_llm_loop.py \
	tests/test_alarm_events.py tests/test_scenario_actor.py tests/test_code_shape.py tests/test_steering_facts.py
unit: setup
	.venv/bin/pytest -q -n 3 $(UNIT)

lint: setup
	.venv/bin/ruff check bot tests scripts
	.venv/bin/ruff format --check bot tests scripts
	.venv/bin/mypy
	.venv/bin/lint-imports

clean:
	rm -rf .venv .tools var
