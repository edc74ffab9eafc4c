# bench/build.mk - `make bench`: every benchmark writes its figures to $(BUILD)/bench/NAME.json
# and prints them with ratios against the baseline named in the same run.  Benchmarks are
# never part of `make test` (these machines are shared and noisy).

BENCHES := $(sort $(wildcard bench/bench_*.sh))

.PHONY: bench
bench:
	@scripts/setup.sh
	@$(MAKE) --no-print-directory all
	@mkdir -p $(BUILD)/bench
	@set -e; for b in $(BENCHES); do echo "== $$b"; BUILD=$(BUILD) $$b; done
