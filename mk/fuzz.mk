# Coverage-guided fuzzing of the readers (fuzz/, atheris = libFuzzer for Python; docs/fuzzing.md).
# `make fuzz` runs every target for FUZZ_S seconds (default 60), one after another, corpora in
# build/fuzz/<target>/corpus (seeded by fuzz/seeds.py when empty, kept between runs) and found
# inputs in build/fuzz/<target>/crashes; libFuzzer's output goes to build/fuzz/<target>/fuzz.log.
# It ends with a per-target table (executions, exec/s, peak RSS) and fails if any target did.
# `make fuzz FUZZ_S=N` sets the time; FUZZ_TARGETS picks targets, FUZZ_ARGS adds fuzz.run
# options (e.g. FUZZ_ARGS='--timeout 5 -- -max_len=65536').
FUZZ_S ?= 60
FUZZ_DIR := build/fuzz
FUZZ_TARGETS ?= dlib_dat dlib_xml mxnet_params mxnet_symbol s3fd_pth s3fd_graph
FUZZ_ARGS ?=

.PHONY: fuzz

fuzz: $(STAMP)
	@$(BIN)/python -c 'import atheris' 2>/dev/null || $(BIN)/pip install --quiet 'atheris>=2.3'
	@failed=""; \
	for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_DIR)/$$t; \
		echo "fuzz: $$t for $(FUZZ_S) s (log: $(FUZZ_DIR)/$$t/fuzz.log)"; \
		if $(BIN)/python -m fuzz.run $$t --seconds $(FUZZ_S) --corpus $(FUZZ_DIR)/$$t/corpus \
			--crashes $(FUZZ_DIR)/$$t/crashes --stats $(FUZZ_DIR)/$$t/stats.json $(FUZZ_ARGS) \
			> $(FUZZ_DIR)/$$t/fuzz.log 2>&1; then \
			tail -n 1 $(FUZZ_DIR)/$$t/fuzz.log; \
		else \
			failed="$$failed $$t"; \
			grep -A 40 -m 1 -e '=== Uncaught Python exception' -e '=== Timeout' -e 'ERROR: libFuzzer' \
				$(FUZZ_DIR)/$$t/fuzz.log || tail -n 40 $(FUZZ_DIR)/$$t/fuzz.log; \
		fi; \
	done; \
	$(BIN)/python -m fuzz.report $(FUZZ_DIR) || true; \
	if test -n "$$failed"; then echo "fuzz: FAILED:$$failed (inputs in $(FUZZ_DIR)/<target>/crashes)"; exit 1; fi
