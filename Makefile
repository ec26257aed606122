# Squall: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages: compilers, llhttp's C sources, GoogleTest, libcurl (webhooks),
# wrk, nginx (bench/static.py), the real servers the tests start (PostgreSQL,
# Redis, RabbitMQ, Prometheus and its promtool), and kubectl for the deploy
# kit's kustomization (Debian's kubernetes-client, unless one is installed).
APT_PACKAGES := build-essential cmake ninja-build pkg-config python3-dev python3-venv \
	node-llhttp libgtest-dev nlohmann-json3-dev clang-format libcurl4-openssl-dev librabbitmq-dev wrk curl nginx \
	postgresql redis-server rabbitmq-server prometheus \
	$(shell command -v kubectl >/dev/null || echo kubernetes-client)

ENGINE_SOURCES := $(shell find core squall -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.py' -o -name '*.pyi' \) 2>/dev/null)

.PHONY: install demo test test-cpp test-asan test-python lint format bench clean

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

# C++ style: .clang-format (Google's, 120 columns) over core/, tests/cpp/ and fuzz/.
CXX_SOURCES = $(shell find core tests/cpp fuzz -name '*.cpp' -o -name '*.h')

lint:
	$(VENV)/bin/ruff check squall tests bench examples
	@clang-format --dry-run -Werror $(CXX_SOURCES) && echo "clang-format: clean"

format:
	clang-format -i $(CXX_SOURCES)

bench: install
	$(PY) bench/run.py

clean:
	rm -rf build $(VENV) dist *.egg-info
