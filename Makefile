# Two commands do everything on a fresh machine: `make serve` and `make test`.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup serve test fuzz bench chaos lint schema clean

setup:
	@bash scripts/setup.sh

# The reference frontend's trusted documents load at start-up (docs/frontend.md).
serve: setup
	LOANGRAPH_PERSISTED_DOCUMENTS=$${LOANGRAPH_PERSISTED_DOCUMENTS:-frontend/dist/persisted-documents.json} \
		$(VENV)/bin/loangraph serve

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# A longer, random Schemathesis run than the bounded one in `make test`
# (docs/fuzzing.md). FUZZ_EXAMPLES: examples per field and role.
FUZZ_EXAMPLES ?= 100
fuzz: setup
	LOANGRAPH_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) LOANGRAPH_FUZZ_RANDOM=1 $(PY) -m pytest tests/fuzz -q $(PYTEST_ARGS)

bench: setup
	$(PY) -m bench

# Minutes of load with DynamoDB faults and kill -9s; prints a table, fails on a broken invariant.
chaos: setup
	$(PY) -m chaos $(CHAOS_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

schema: setup
	$(VENV)/bin/loangraph schema > schema/schema.graphql

clean:
	rm -rf $(VENV) node_modules .data
