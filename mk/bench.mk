# Benchmarks of the perf support (bench/, see bench/README.md).
#
#   make bench                     CPU time, off / perf / perf_jit / pristine
#                                  and other CPythons >= 3.12: one process
#                                  per sample (bench/run.py, with the
#                                  start-ups), then finely interleaved runs
#                                  in persistent interpreters
#                                  (bench/interleave.py, steadier here)
#   make bench-interleaved         only the second part
#   make bench BENCH_MODE=callgrind   the same in instruction counts
#   make bench-callgrind           same as the line above
#   make bench-scale               scale checks (bench/scale.py)
#   make bench-pristine            only build the reference build-pristine/
#
# BENCH_ROUNDS (default 5; BENCH_INTERLEAVED_ROUNDS, default 40, and
# BENCH_GROUPS, default 5, for bench/interleave.py), BENCH_SCALE
# (workload size factor),
# BENCH_WORKLOADS (comma-separated subset) are passed through the
# environment; BENCH_PYTHON runs the runner (any python3 >= 3.8).

BENCH_PYTHON ?= $(firstword $(wildcard /usr/bin/python3) python3)
BENCH_MODE   ?= time
BENCH_ROUNDS ?= 5
BENCH_INTERLEAVED_ROUNDS ?= 40

export BENCH_MODE BENCH_ROUNDS BENCH_INTERLEAVED_ROUNDS

.PHONY: bench bench-callgrind bench-interleaved bench-scale bench-pristine

bench:
	$(BENCH_PYTHON) bench/run.py
	@if [ "$(BENCH_MODE)" = time ]; then \
	    echo "$(BENCH_PYTHON) bench/interleave.py --no-make"; \
	    $(BENCH_PYTHON) bench/interleave.py --no-make; \
	fi

bench-interleaved:
	$(BENCH_PYTHON) bench/interleave.py

bench-callgrind:
	BENCH_MODE=callgrind $(BENCH_PYTHON) bench/run.py

bench-scale:
	$(BENCH_PYTHON) bench/scale.py

bench-pristine:
	tools/bench-pristine.sh
