# Two commands matter on a fresh machine: `make run` and `make test`.
# Everything they need (the virtualenv, Python packages, Debian's gettext,
# Chromium and CJK fonts) is installed here, so a clean clone just works.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_URL ?= postgres://postgres@127.0.0.1:5432/accord
PYTEST := $(BIN)/pytest
# Two workers, one test file each at a time: live-node tests spend much of
# their time waiting on servers, and module fixtures stay in one worker.
PARALLEL ?= -n 2 --dist loadfile --durations=15
CATALOGUES := $(wildcard src/accord/locale/*/LC_MESSAGES/django.po)
COMPILED := $(CATALOGUES:.po=.mo)

.PHONY: run test ci bench bench-scale lint format test-sqlite test-postgres test-browser messages \
        system-gettext system-browser system-sodium postgres clean

run: $(VENV)/.installed messages system-sodium
	$(BIN)/accord demo

test: $(VENV)/.installed messages system-browser system-sodium
	$(PYTEST) $(PARALLEL)

# The PostgreSQL and browser legs run side by side: live nodes spend much of
# their time waiting, so the browser leg costs the PostgreSQL one about half
# its length (each leg's output is shown whole when it ends).
ci: lint test-sqlite
	$(MAKE) --no-print-directory -j 2 --output-sync=target test-postgres test-browser

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests tools bench
	$(BIN)/ruff format --check src tests tools bench
	$(BIN)/mypy
	$(BIN)/bandit -c pyproject.toml -r src -q

format: $(VENV)/.installed
	$(BIN)/ruff check --fix src tests tools bench
	$(BIN)/ruff format src tests tools bench

test-sqlite: $(VENV)/.installed messages system-browser system-sodium
	env -u ACCORD_DATABASE_URL $(PYTEST) $(PARALLEL) -m "not browser" -p no:cacheprovider

test-postgres: $(VENV)/.installed messages postgres system-browser system-sodium
	ACCORD_DATABASE_URL=$(PG_URL) $(PYTEST) $(PARALLEL) -m "not browser" -p no:cacheprovider

test-browser: $(VENV)/.installed messages system-browser system-sodium
	env -u ACCORD_DATABASE_URL $(PYTEST) -m browser -p no:cacheprovider

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

# The peer tools the benchmarks compare against (openmined-psi) and locust, only for `make bench`.
$(VENV)/.installed-bench: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	touch $@

messages: $(COMPILED)

%.mo: %.po | system-gettext
	msgfmt --check -o $@ $<

system-gettext:
	@command -v msgfmt >/dev/null || tools/apt-install gettext

# pysodium (ristretto255 for hit/no-hit) binds the system's libsodium.
system-sodium:
	@$(PYTHON) -c "import ctypes.util, sys; sys.exit(not ctypes.util.find_library('sodium'))" \
		|| tools/apt-install libsodium23

system-browser:
	@test -x /usr/bin/chromium || tools/apt-install chromium
	@fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || tools/apt-install fonts-noto-cjk

postgres:
	tools/ensure-postgres

clean:
	rm -rf $(VENV) $(COMPILED) .pytest_cache .ruff_cache .mypy_cache test-artifacts

bench: $(VENV)/.installed-bench messages postgres
	$(BIN)/python bench/federation.py
	$(BIN)/python bench/taxii.py
	$(BIN)/python bench/reads.py
	$(BIN)/python bench/psi.py
	$(BIN)/python bench/evidence.py
	$(BIN)/python bench/matching.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/demo.py

# Issue 18's scale measurements, not part of `make bench` (an hour or more):
# federation with 100,000 messages on both databases, and the TAXII store grown
# to 1,000,000 objects on PostgreSQL (from 100,000 objects on, each read is a
# bounded sample of 50 pages; objects past the first 10,000 are copies of a
# stix2-built one with their own id, name and pattern). Results are written
# after each database / store size. The probe prints only (see its docstring).
bench-scale: $(VENV)/.installed-bench messages postgres
	$(BIN)/python bench/federation.py --count 100000 --no-rest --name federation-100k
	$(BIN)/python bench/taxii.py --full --databases postgres --skip-medallion \
		--bounded-from 100000 --template-from 10000 --out taxii-1m-postgres
	$(BIN)/python bench/taxii_scale_probe.py  # first page at 1k and 1M on one node, one load
