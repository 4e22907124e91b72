# The front door: `make demo` and `make check` are all a new user needs.
# CMake does the real work in build/ (normal), build-asan/ (sanitizers) and
# build-release/ (benchmarks).

JOBS ?= $(shell nproc)
MAKEFLAGS += --no-print-directory
CMAKE_FLAGS ?=
FUZZ_SECONDS ?= 60

.PHONY: all deps build build-asan build-release build-fuzz demo check check-normal check-asan \
	check-fuzz fuzz bench format clean deb check-deb check-systemd soak-hostile soak \
	check-faults

all: build

deps:
	@./packaging/install-deps

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j $(JOBS)

build-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPVM_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-asan -j $(JOBS)

build-release: deps
	@cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-release -j $(JOBS)

# libFuzzer targets (tests/fuzz/): clang with ASan, UBSan and coverage.
build-fuzz: deps
	@cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DPVM_FUZZ=ON \
		$(CMAKE_FLAGS) >/dev/null
	@cmake --build build-fuzz -j $(JOBS)

demo: build
	@./scripts/demo build

check-normal: build
	@cd build && ctest --output-on-failure -j $(JOBS)

# valgrind cannot run sanitized binaries; those tests carry the label "valgrind".
check-asan: build-asan
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS) -LE valgrind

# Each fuzz target for a short fixed time (FUZZ_CHECK_SECONDS in CMake, 8 s).
check-fuzz: build-fuzz
	@cd build-fuzz && ctest --output-on-failure -j $(JOBS) -L fuzz; rc=$$?; \
		cat tests/fuzz/artifacts/*/last 2>/dev/null; exit $$rc

# 1,000,000 pv ABI abuses from 8 hostile guests at once per platform on
# sanitized VMMs (HOSTILE_ABUSES=N for another count); by hand, not in check.
soak-hostile: build-asan
	@./scripts/soak-hostile build-asan

# The all-in-one pvmd starting and stopping 200 guests for SOAK_MIN minutes
# (default 30) under wrk load; by hand, not in check.
SOAK_MIN ?= 30
soak: build
	@SOAK_MIN=$(SOAK_MIN) ./scripts/soak build

# Every fuzz target for FUZZ_SECONDS from its seed corpus, one line each.
fuzz: build-fuzz
	@for t in build-fuzz/tests/fuzz/fuzz_*; do \
		[ -x "$$t" ] || continue; \
		./tests/fuzz/run "$$t" "tests/fuzz/corpus/$$(basename $$t)" $(FUZZ_SECONDS) || fail=1; \
	done; exit $${fail:-0}

# SIGKILL of pvmd (all-in-one, host role) and pvm-vmm at random points, 50
# times each (make check runs 10); PVM_FAULT_SEED=N replays a run.
FAULT_KILLS ?= 50
check-faults: build
	@PVM_PLATFORM=$${PVM_PLATFORM:-process} PVM_FAULT_KILLS=$(FAULT_KILLS) \
		./build/tests/daemon/daemon_faults

# The Debian packages (docs/packaging.md): built by dpkg-buildpackage from a
# clean copy of the tracked files into build-deb/, checked by lintian.
deb: deps
	@JOBS=$(JOBS) ./packaging/build-deb build-deb

# The .debs installed, upgraded and purged in a fresh root (a minute).
check-deb: deb
	@./tests/packaging/test_deb_install.sh build-deb

# By hand: the installed pvmd under a real systemd in systemd-nspawn.
check-systemd: deb
	@./tests/packaging/test_systemd.sh build-deb

check: check-normal check-asan check-fuzz check-deb

bench: build-release
	@./bench/run-all build-release

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf build build-asan build-release build-fuzz build-deb
