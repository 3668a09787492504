# Chipmunk's developer entry points.  On a fresh Debian 12 machine, as root:
#   make test    install what is missing (apt, then a venv), lint (ruff, mypy), run
#                every test twice: on Debian's own python3-* packages and on the
#                latest PyPI releases; then the packages on a booted systemd
#   make run     the main job on embedded defaults, on loopback
#   make bench   chipmunk-server against nginx under wrk; chipmunk-client's start-up,
#                memory and idle cost beside plain python3

SHELL := /bin/bash
PYTHON_DEBIAN := /usr/bin/python3
VENV := .venv
PYTHON_VENV := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)
export PYTHONDONTWRITEBYTECODE := 1
# The tests mostly wait on processes and sockets: four at a time on two cores.
TEST_WORKERS ?= 4
PYTEST := -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS)

# Debian packages: runtime, tests, and what the venv needs to build systemd-python.
APT_RUNTIME := python3 python3-cheroot python3-requests python3-systemd python3-dnspython
APT_TEST := python3-pytest python3-pytest-xdist python3-trustme python3-venv python3-dev libsystemd-dev iproute2 bind9 groff-base \
            pkg-config gcc curl python3-lexicon pdns-server pdns-backend-sqlite3 \
            ddclient inadyn wget python3-prometheus-client prometheus prometheus-node-exporter \
            chromium nginx-light wrk python3-miniupnpc miniupnpd-nftables nftables pebble lego
APT_BENCH := wrk nginx-light bind9 pdns-server pdns-backend-sqlite3 python3-miniupnpc miniupnpd-nftables nftables
APT_E2E := systemd-container curl
APT_DEB := debhelper dh-python pybuild-plugin-pyproject python3-all python3-setuptools pkg-config systemd \
           lintian fakeroot git reprepro gnupg
VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' chipmunk/__init__.py)
DEB_TREE := build/deb/chipmunk-$(VERSION)
# Debian's own tools and python3, whatever else is first on PATH (pyenv, a venv).
SYSTEM_PATH := /usr/sbin:/usr/bin:/sbin:/bin
PYPI_PACKAGES := cheroot requests systemd-python dnspython dns-lexicon prometheus-client miniupnpc \
                 pytest pytest-xdist trustme
LINT_PACKAGES := ruff mypy types-requests
DIST_PACKAGES := build twine

.PHONY: test lint test-debian test-pypi e2e run bench deb old-deb repo apt-runtime apt-test apt-bench \
        apt-deb venv dev dist clean

# apt-get only when something is missing, so a prepared machine needs no network.
# Services in the test set (named, pdns, ddclient, inadyn) must not start
# where systemd runs: the tests start their own.  A policy-rc.d that answers
# 101 keeps invoke-rc.d from starting them, and is removed again.
define apt_install
	@missing=$$(for p in $(1); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
	    || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "apt-get install:" $$missing; \
	    guard=; if [ ! -e /usr/sbin/policy-rc.d ]; then guard=/usr/sbin/policy-rc.d; \
	        printf '#!/bin/sh\nexit 101\n' > $$guard; chmod 755 $$guard; fi; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	        apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	    status=$$?; [ -z "$$guard" ] || rm -f $$guard; exit $$status; \
	fi
endef

apt-runtime:
	$(call apt_install,$(APT_RUNTIME))

apt-test:
	$(call apt_install,$(APT_RUNTIME) $(APT_TEST))

apt-bench:
	$(call apt_install,$(APT_RUNTIME) $(APT_BENCH))

apt-deb:
	$(call apt_install,$(APT_RUNTIME) $(APT_DEB))

# The three .debs from a clean export of the tree (tracked and new files, nothing
# ignored), with packaging/debian copied to ./debian as dpkg-buildpackage wants
# (-L: its unit files are links into systemd/).
deb: apt-deb
	rm -rf build/deb && mkdir -p $(DEB_TREE)
	git ls-files --cached --others --exclude-standard | while read -r f; do \
	    [ -e "$$f" ] && echo "$$f"; done | tar -cf - -T - | tar -C $(DEB_TREE) -xf -
	cp -rL packaging/debian $(DEB_TREE)/debian
	cd $(DEB_TREE) && PATH=$(SYSTEM_PATH) dpkg-buildpackage -us -uc -b >../build.log 2>&1 \
	    || { tail -40 ../build.log; exit 1; }
	PATH=$(SYSTEM_PATH) lintian --fail-on error,warning --info build/deb/*.changes
	@ls -1 build/deb/*.deb

# The stamp records what was installed; delete .venv to take newer PyPI releases.
$(VENV)/.installed: pyproject.toml | apt-test
	$(PYTHON_DEBIAN) -m venv $(VENV)
	$(PYTHON_VENV) -m pip install -q --upgrade pip
	$(PYTHON_VENV) -m pip install -q --upgrade $(PYPI_PACKAGES) $(LINT_PACKAGES) $(DIST_PACKAGES)
	$(PYTHON_VENV) -m pip list --format=freeze | grep -iE '^(cheroot|requests|systemd-python|dnspython|dns-lexicon|prometheus.client)=' > $@

venv: $(VENV)/.installed

# The PyPI form: an sdist and a wheel in dist/, checked by twine.
dist: venv
	rm -rf dist
	$(PYTHON_VENV) -m build --outdir dist . >/dev/null
	$(VENV)/bin/twine check --strict dist/*
	@ls -1 dist

# Both commands from this checkout, in .venv: .venv/bin/chipmunk-server and
# .venv/bin/chipmunk-client (an editable install: edits take effect at once).
# Without it: PYTHONPATH=. python3 -m chipmunk.server (or chipmunk.client).
dev: venv
	$(PYTHON_VENV) -m pip install -q --no-deps --editable .
	@echo "ready: $(VENV)/bin/chipmunk-server --help, $(VENV)/bin/chipmunk-client --help"

test: lint test-debian test-pypi e2e

# ruff and mypy from the venv (Debian 12 has no ruff); both must be clean.
lint: venv
	$(VENV)/bin/ruff check chipmunk tests benchmarks tools
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy benchmarks tools

# A signed apt repository of the packages in build/repo/ (tools/make-repo.sh
# says what is in it; REPO_KEY=/path/key.asc signs with your key).
repo: deb
	PATH=$(SYSTEM_PATH) tools/make-repo.sh build/deb build/repo $(REPO_URL)

# The previous release's packages, built from the commit packaging/releases
# names for it, in build/old/deb/ (the upgrade test installs them first).
PREVIOUS_COMMIT := $(shell awk -v v=$(VERSION) '!/^\#/ && NF == 2 && $$1 != v {c = $$2} END {print c}' packaging/releases)
old-deb: apt-deb
	@git cat-file -e "$(PREVIOUS_COMMIT)^{commit}" 2>/dev/null || { echo "the previous \
	release's commit $(PREVIOUS_COMMIT) is not in this clone (git fetch --unshallow)"; exit 1; }
	rm -rf build/old && mkdir -p build/old/deb
	git clone -q --no-checkout . build/old/src && git -C build/old/src checkout -q $(PREVIOUS_COMMIT)
	$(MAKE) -C build/old/src deb >build/old/build.log 2>&1 || { tail -20 build/old/build.log; exit 1; }
	cp build/old/src/build/deb/*.deb build/old/deb/
	@ls -1 build/old/deb/*.deb

# The packages on a booted systemd (systemd-nspawn on an overlay of /), as root;
# before that, apt on this machine takes the signed repository and refuses it
# tampered with.  Then, in a second boot, the upgrade from the previous release.
e2e: repo old-deb
	$(call apt_install,$(APT_E2E))
	tests/e2e/check-repo.sh build/repo
	tests/e2e/run.sh build/deb build/repo
	SCENARIO=upgrade.sh tests/e2e/run.sh build/deb build/repo build/old/deb

# Debian 12 has no acme.sh; trixie's script runs on bookworm.  Its .deb comes
# from trixie through apt with a sources list, lists and cache of its own in
# build/trixie (the machine's apt is not touched), unpacked into build/acme.sh,
# not installed.
ACME_SH := build/acme.sh/usr/share/acme.sh/acme.sh
TRIXIE_APT := -o Dir::Etc::SourceList=$(CURDIR)/build/trixie/sources.list \
              -o Dir::Etc::SourceParts=- -o Dir::State::Lists=$(CURDIR)/build/trixie/lists \
              -o Dir::Cache=$(CURDIR)/build/trixie/cache -o APT::Get::List-Cleanup=0
$(ACME_SH):
	rm -rf build/trixie build/acme.sh
	mkdir -p build/trixie/lists/partial build/trixie/cache/archives/partial
	echo "deb http://deb.debian.org/debian trixie main" > build/trixie/sources.list
	apt-get -qq $(TRIXIE_APT) update
	cd build/trixie && apt-get -qq $(TRIXIE_APT) download acme.sh 2>/dev/null
	dpkg-deb -x build/trixie/acme.sh_*_all.deb build/acme.sh
	@echo "acme.sh $$(dpkg-deb -f build/trixie/acme.sh_*_all.deb Version) unpacked in build/acme.sh"

test-debian: apt-test $(ACME_SH)
	@echo "== tests on Debian's packages:" $$($(PYTHON_DEBIAN) -c 'import cheroot, requests; print("cheroot", cheroot.__version__, "requests", requests.__version__)')
	$(PYTHON_DEBIAN) $(PYTEST) tests

test-pypi: venv $(ACME_SH)
	@echo "== tests on PyPI's latest:" $$(tr '\n' ' ' < $(VENV)/.installed)
	$(PYTHON_VENV) $(PYTEST) tests

# make run needs only what the packages need at run time
run: apt-runtime
	$(PYTHON_DEBIAN) -m tools.demo

bench: apt-bench
	$(PYTHON_DEBIAN) -m benchmarks.server_bench
	$(PYTHON_DEBIAN) -m benchmarks.client_bench
	$(PYTHON_DEBIAN) -m benchmarks.auth_bench
	$(PYTHON_DEBIAN) -m benchmarks.slowloris_bench
	$(PYTHON_DEBIAN) -m benchmarks.flood_bench
	$(PYTHON_DEBIAN) -m benchmarks.reload_bench
	$(PYTHON_DEBIAN) -m benchmarks.dyndns_bench
	$(PYTHON_DEBIAN) -m benchmarks.metrics_bench
	$(PYTHON_DEBIAN) -m benchmarks.netwatch_bench
	$(PYTHON_DEBIAN) -m benchmarks.discovery_bench

clean:
	rm -rf $(VENV) build dist .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
