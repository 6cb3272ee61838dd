# Entry points. Each target first installs missing system packages (safe to
# run again: apt-get is called only for packages dpkg does not list).
SHELL := /bin/bash
SYSTEM_PACKAGES := liblz4-dev libzstd-dev libssl-dev pkg-config
DATA_DIR ?= ./demo-data
CYCLES ?= 1000
SWIFT_TEST_FLAGS ?=

SERVER_DATA_DIR ?= ./data
PREFIX ?= /usr/local
CONFIGURATION ?= release
INSTALLED_TOOLS := LedgerServer ledgerctl

.PHONY: deps build run demo demo-replication test test-clients test-install install lint format soak fuzz fuzz-smoke bench clean

deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v python3 >/dev/null || missing="$$missing python3"; \
	python3 -c 'import venv, ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

build: deps
	swift build

# `make run` starts LedgerServer in the foreground on ./data (created, with a
# development API key printed once, on first run); Ctrl-C stops it cleanly.
run: build
	$$(swift build --show-bin-path)/LedgerServer --data-dir $(SERVER_DATA_DIR) --create-dev-key

# The payments demo through ledgerctl on a fresh directory, ending with verify.
demo: build
	DATA_DIR=$(DATA_DIR) LEDGERCTL=$$(swift build --show-bin-path)/ledgerctl scripts/demo.sh

# A primary and a standby on loopback: posts, then both digests and the lag.
demo-replication: build
	BIN=$$(swift build --show-bin-path) scripts/demo-replication.sh

# The server tests run on their own, one at a time: their clients live on
# Swift's cooperative pool (2 threads on 2 cores), which the long synchronous
# engine tests would otherwise hold for minutes, starving the clients past
# their deadlines.
test: deps lint
	swift build --build-tests
	LEDGERCTL=$$(swift build --show-bin-path)/ledgerctl swift test --skip-build --skip LedgerServerTests $(SWIFT_TEST_FLAGS)
	LEDGERCTL=$$(swift build --show-bin-path)/ledgerctl swift test --skip-build --filter LedgerServerTests --no-parallel $(SWIFT_TEST_FLAGS)
	$(MAKE) test-clients
	$(MAKE) test-install
	$(MAKE) fuzz-smoke

# `make install` (PREFIX, default /usr/local; CONFIGURATION, default
# release) installs LedgerServer and ledgerctl into PREFIX/bin, their bash,
# zsh and fish completions, and their man pages (one per subcommand) into
# PREFIX/share/man/man1. Without installing, the binaries are in
# `$(swift build -c release --show-bin-path)` (or .build/debug after `make build`).
install: deps
	for tool in $(INSTALLED_TOOLS) generate-manual; do swift build -c $(CONFIGURATION) --product $$tool || exit 1; done
	bin=$$(swift build -c $(CONFIGURATION) --show-bin-path); \
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d && \
	for tool in $(INSTALLED_TOOLS); do \
	  install -m 755 $$bin/$$tool $(DESTDIR)$(PREFIX)/bin/$$tool && \
	  $$bin/$$tool --generate-completion-script bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/$$tool && \
	  $$bin/$$tool --generate-completion-script zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_$$tool && \
	  $$bin/$$tool --generate-completion-script fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/$$tool.fish && \
	  $$bin/generate-manual $$bin/$$tool --multi-page -o $(DESTDIR)$(PREFIX)/share/man/man1 >/dev/null || exit 1; \
	done
	@echo "installed $(INSTALLED_TOOLS) into $(DESTDIR)$(PREFIX)/bin"

# In `make test`: install the debug build (already built: a release build
# would double the test's build time) into a temporary prefix and check it.
test-install:
	prefix=$$(mktemp -d) && $(MAKE) --no-print-directory install PREFIX=$$prefix CONFIGURATION=debug >/dev/null && \
	$$prefix/bin/ledgerctl --version | grep -q "^ledgerctl " && $$prefix/bin/LedgerServer --version | grep -q "^LedgerServer " && \
	test -s $$prefix/share/bash-completion/completions/ledgerctl && test -s $$prefix/share/zsh/site-functions/_ledgerctl && \
	test -s $$prefix/share/fish/vendor_completions.d/ledgerctl.fish && test -s $$prefix/share/man/man1/ledgerctl.1 && \
	test -s $$prefix/share/man/man1/ledgerctl.verify.1 && echo "install: ok ($$prefix)" && rm -rf $$prefix

# The house conventions: swift-format (.swift-format: 160-column lines, its
# rules) over every Swift file, and scripts/lint.py (no Sources file over
# 400 lines, no function over 70 without a `// Long:` reason). `make format`
# rewrites the files swift-format would change.
lint:
	swift format lint --strict --recursive --parallel Sources Tests Benchmarks Examples Package.swift
	python3 scripts/lint.py

format:
	swift format format --in-place --recursive --parallel Sources Tests Benchmarks Examples Package.swift

# Every fuzz target on a fixed slice of inputs (libFuzzer + AddressSanitizer,
# built in .build-fuzz); `make fuzz` runs long: FUZZ_RUNS inputs per target
# (default 10,000,000) or FUZZ_SECONDS each, TARGETS="wal segment" to choose.
fuzz-smoke: deps
	scripts/fuzz.sh smoke

fuzz: deps
	scripts/fuzz.sh long $(TARGETS)

# The Swift client's links (no zstd, lz4 or libcrypto: LedgerModel, not the
# engine); the Python and Node clients against a real server (built by `swift build`);
# the Python client's types checked with mypy --strict (mypy from PyPI, in a venv).
test-clients:
	swift build --product SwiftClientExample
	@! ldd $$(swift build --show-bin-path)/SwiftClientExample | grep -E 'libzstd|liblz4|libcrypto' || { echo "the Swift client links zstd, lz4 or libcrypto"; exit 1; }
	python3 -m venv .build/python-tools && .build/python-tools/bin/pip install -q --disable-pip-version-check mypy
	.build/python-tools/bin/mypy --strict clients/python/ledger_client
	LEDGER_SERVER=$$(swift build --show-bin-path)/LedgerServer python3 -m unittest discover -s clients/python/tests
	LEDGER_SERVER=$$(swift build --show-bin-path)/LedgerServer node --test clients/node/test/*.test.js

# Long kill-loops: CYCLES=N make soak (the server CYCLES/5 times, a standby
# CYCLES/2 times, the primary killed and its standby promoted CYCLES/2 times,
# scheduled archival CYCLES times); the engine simulation runs SEEDS seeds
# (default 10,000; one replays with LEDGER_SIM_SEED=<seed>).
SEEDS ?= 10000
soak: deps
	swift build --build-tests
	LEDGER_SIM_SEEDS=$(SEEDS) swift test --skip-build --filter EngineSimulationTests
	LEDGERCTL=$$(swift build --show-bin-path)/ledgerctl CRASH_CYCLES=$(CYCLES) swift test --skip-build --filter LedgerCrashTests
	LEDGERCTL=$$(swift build --show-bin-path)/ledgerctl SERVER_KILL_CYCLES=$$(( $(CYCLES) / 5 )) \
	  swift test --skip-build --filter ServerKillTests --no-parallel
	LEDGERCTL=$$(swift build --show-bin-path)/ledgerctl STANDBY_KILL_CYCLES=$$(( $(CYCLES) / 2 )) \
	  swift test --skip-build --filter ReplicationProcessTests/aStandbyKilled --no-parallel
	LEDGERCTL=$$(swift build --show-bin-path)/ledgerctl PRIMARY_KILL_CYCLES=$$(( $(CYCLES) / 2 )) \
	  swift test --skip-build --filter PromotionProcessTests/withASynchronousStandby --no-parallel
	LEDGERCTL=$$(swift build --show-bin-path)/ledgerctl SCHEDULED_ARCHIVAL_CYCLES=$(CYCLES) \
	  swift test --skip-build --filter ScheduledArchivalTests --no-parallel

bench: deps
	swift build -c release --product LedgerBench
	$$(swift build -c release --show-bin-path)/LedgerBench all

clean:
	rm -rf .build $(DATA_DIR) $(SERVER_DATA_DIR)
