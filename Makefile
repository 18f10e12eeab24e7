# Two commands do everything on a fresh machine: `make serve` and `make test`.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup serve test bench chaos lint schema clean

setup:
	@bash scripts/setup.sh

serve: setup
	$(VENV)/bin/loangraph serve

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(PY) -m bench

# Minutes of load with DynamoDB faults and kill -9s; prints a table, fails on a broken invariant.
chaos: setup
	$(PY) -m chaos $(CHAOS_ARGS)

lint: setup
	$(VENV)/bin/ruff check .

schema: setup
	$(VENV)/bin/loangraph schema > schema/schema.graphql

clean:
	rm -rf $(VENV) node_modules .data
