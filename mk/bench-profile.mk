BENCH_TARGETS += bench-profile

## bench-profile: where a validate's instructions and cache misses go (valgrind; this VM has
## no hardware counters). Writes benches/results/core-profile.txt; about 5 minutes.
bench-profile:
	bash benches/profile.sh
