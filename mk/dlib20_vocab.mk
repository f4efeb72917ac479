# dlib 20 reference cases for the dlib layer vocabulary (tools/dlib_ref/extra/dlib20_vocab.cpp):
# transformer layers, con_6/relu_2, new inputs and losses, repeat<>, nets without a loss.
# Debian ships dlib 19.24, so this builds against a dlib 20.0 source tree: DLIB20_SRC, else the
# sdist fetched with pip (PyPI's source distribution, no other download) into build/dlib20_src.
# A test prerequisite since the two translation units compile in ~35 s here (-j2, -O1; 2026-12-04);
# if fetching or building fails, `dlib20-vocab-prereq` says why and succeeds, and
# tests/converters/dlib/test_*_vocabulary.py skip the dlib-20 comparisons with that reason.
DLIB20_DIR := build/dlib20_vocab
DLIB20_FETCHED := build/dlib20_src/dlib-20.0.0
DLIB20_SRC ?= $(or $(wildcard /tmp/dlibsrc/dlib-20.0.0),$(DLIB20_FETCHED))
DLIB20_CXXFLAGS ?= -std=c++17 -O1 -w -DDLIB_NO_GUI_SUPPORT -DDLIB_DISABLE_ASSERTS

.PHONY: dlib20-vocab dlib20-vocab-prereq

dlib20-vocab: $(DLIB20_DIR)/cases/.done

$(DLIB20_DIR)/cases/.done: $(DLIB20_DIR)/dlib20_vocab
	rm -rf $(DLIB20_DIR)/cases.tmp && mkdir -p $(DLIB20_DIR)/cases.tmp
	$< $(DLIB20_DIR)/cases.tmp > $(DLIB20_DIR)/cases.tmp/list.txt
	rm -rf $(DLIB20_DIR)/cases && mv $(DLIB20_DIR)/cases.tmp $(DLIB20_DIR)/cases && touch $@

$(DLIB20_DIR)/dlib20_vocab: $(DLIB20_DIR)/dlib20_lib.o $(DLIB20_DIR)/dlib20_vocab.o
	g++ -o $@.tmp $^ -lpthread && mv $@.tmp $@

$(DLIB20_DIR)/%.o: tools/dlib_ref/extra/%.cpp | $(DLIB20_SRC)/dlib/dnn.h
	@mkdir -p $(DLIB20_DIR)
	g++ $(DLIB20_CXXFLAGS) -I$(DLIB20_SRC) -c $< -o $@

$(DLIB20_FETCHED)/dlib/dnn.h:
	mkdir -p build/dlib20_src
	$(BIN)/python -m pip download --no-deps --no-binary :all: dlib==20.0.0 -d build/dlib20_src
	tar -xzf build/dlib20_src/dlib-20.0.0.tar.gz -C build/dlib20_src

dlib20-vocab-prereq: $(STAMP)
	@mkdir -p build; start=$$(date +%s); \
	if $(MAKE) --no-print-directory -j2 dlib20-vocab >build/dlib20_vocab.log 2>&1; then \
		echo "dlib20-vocab: reference cases ready ($$(( $$(date +%s) - start )) s)"; \
	else \
		echo "dlib20-vocab: building the dlib 20 cases failed (see build/dlib20_vocab.log);" \
			"the dlib-20 vocabulary comparisons will skip"; tail -3 build/dlib20_vocab.log; \
	fi

test-prereqs: dlib20-vocab-prereq
