# The two set-up commands of the README. Everything else is plain CMake.
#   make run   install what is missing, build (Release), run the main program
#   make test  install what is missing, build, run the whole suite with ctest
BUILD ?= build
JOBS  ?= $(shell nproc)
MAIN  ?= hello_server

.PHONY: run test build deps bench clean

deps:
	bash scripts/install-deps.sh test

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/examples/$(MAIN) $(ARGS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 120

bench:
	bash scripts/install-deps.sh bench
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DEDDY_BENCH=ON >/dev/null
	cmake --build $(BUILD) -j $(JOBS)
	bash bench/run_all.sh $(BUILD)
	bash bench/serve_file.sh $(BUILD)
	bash bench/http/run.sh $(BUILD) all

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz
