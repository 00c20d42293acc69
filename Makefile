# Every target runs in the virtual environment at .venv, which is created when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The hot path compiled with mypyc (genrpc_actors/_compiled.py lists it), built again when a
# source of the package changes; without a C compiler the pure-Python modules run.
NATIVE := $(VENV)/.native
PACKAGE_SOURCES := $(wildcard genrpc_actors/*.py genrpc_actors/*/*.py)
# The layers the pure-Python run of make test covers (make test-pure: the whole suite)
PURE_TESTS := tests/protocol tests/client tests/server tests/transport tests/execution

.PHONY: install test test-pure lint dist demo docs chromium shell-master shell-slave integration soak bench distclean etcd

install: $(STAMP) $(NATIVE)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev,docs,metrics]'
	touch $(STAMP)

$(NATIVE): $(STAMP) $(PACKAGE_SOURCES)
	$(BIN)/python -m genrpc_actors._tools._compile || [ $$? -eq 2 ]
	touch $(NATIVE)

# The suite with the compiled hot path, then the layers it compiles as pure Python.
test: $(STAMP) $(NATIVE) etcd
	$(BIN)/python -m pytest -q tests
	GENRPC_PURE_PYTHON=1 $(BIN)/python -m pytest -q $(PURE_TESTS)

# The whole suite as pure Python (GENRPC_PURE_PYTHON=1: the sources run, not the compiled modules).
test-pure: $(STAMP) etcd
	GENRPC_PURE_PYTHON=1 $(BIN)/python -m pytest -q tests

# The discovery tests run a real etcd server: Debian's etcd-server, installed when missing.
etcd:
	@command -v etcd >/dev/null 2>&1 || { \
	  echo "installing Debian's etcd-server (the discovery tests start a real etcd)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy --strict examples
	$(BIN)/mypy --strict docs/_check_render.py docs/_docstrings.py

# gen_rpc's `make dist`: everything that must be green before a release.
dist: test lint

# The main job: a guided tour on a local cluster of node processes.
demo: $(STAMP) $(NATIVE)
	$(BIN)/genrpc demo

# The documentation site: MkDocs with Material and mkdocstrings (the docs extra), built strictly
# (a warning fails it) into site/, then three of its pages opened in headless Chromium (Debian's
# chromium, installed when missing), screenshotted into build/docs-screenshots/ and checked.
DOCS_STAMP := $(VENV)/.installed-docs

$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,dev,docs,metrics]'
	touch $(DOCS_STAMP)

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium (make docs looks at the site in it)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

docs: $(DOCS_STAMP) chromium
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
	$(BIN)/python docs/_check_render.py site build/docs-screenshots

# gen_rpc's shells: two interactive nodes on 127.0.0.1 that reach each other over TLS
# (ports 5370 and 5372); certificates and configurations are made in .shell/ on first use.
.shell/master.toml: $(STAMP)
	$(BIN)/python -m genrpc_actors._tools._shells .shell

shell-master: .shell/master.toml
	$(BIN)/genrpc shell master@127.0.0.1 --config .shell/master.toml

shell-slave: .shell/master.toml
	$(BIN)/genrpc shell slave@127.0.0.1 --config .shell/slave.toml

# Nodes on separate hosts (network namespaces, as root; loopback addresses otherwise).
NODES ?= 3
integration: $(STAMP) $(NATIVE)
	$(BIN)/python -m integration.run --nodes $(NODES)

# Mixed traffic while nodes are killed and links cut; prints the table (hung and twice: 0).
SECONDS ?= 120
soak: $(STAMP) $(NATIVE)
	$(BIN)/python -m integration.run --nodes $(NODES) --soak $(SECONDS)

# The peers (Pyro5, rpyc), matplotlib and tqdm: only the benchmarks need them.
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,dev,docs,metrics,bench]'
	touch $(BENCH_STAMP)

# genrpc_actors, the raw-socket floor and the peers on the same workloads; ARGS=--quick, --pin ...
bench: $(BENCH_STAMP) $(NATIVE)
	$(BIN)/python -m benchmarks $(ARGS)

distclean:
	rm -rf $(VENV) build dist site *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis .shell
	find genrpc_actors -name '*.so' -delete
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
