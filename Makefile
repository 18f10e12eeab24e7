# Two commands do everything on a fresh machine: `make serve` and `make test`.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup serve test bench lint schema clean

setup:
	@bash scripts/setup.sh

# The reference frontend's trusted documents load at start-up (docs/frontend.md).
serve: setup
	LOANGRAPH_PERSISTED_DOCUMENTS=$${LOANGRAPH_PERSISTED_DOCUMENTS:-frontend/dist/persisted-documents.json} \
		$(VENV)/bin/loangraph serve

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(PY) -m bench

lint: setup
	$(VENV)/bin/ruff check .

schema: setup
	$(VENV)/bin/loangraph schema > schema/schema.graphql

clean:
	rm -rf $(VENV) node_modules .data
