# dlib C++ reference tool (tools/dlib_ref -> build/dlib_ref/dlib_ref), built against Debian's
# libdlib-dev 19.24. The apt packages are installed when missing; if installing or building is
# impossible, `dlib-ref` says why and succeeds: the tests that need the tool then skip.
# Objects are cached with -MMD dependencies; the dnn translation units are split so that the
# sub-make's -j2 compiles them in parallel (each dnn unit takes 20-60 s of one core).
DLIB_REF_DIR := build/dlib_ref
DLIB_REF_BIN := $(DLIB_REF_DIR)/dlib_ref
DLIB_REF_SRCS := $(wildcard tools/dlib_ref/*.cpp)
DLIB_REF_OBJS := $(patsubst tools/dlib_ref/%.cpp,$(DLIB_REF_DIR)/%.o,$(DLIB_REF_SRCS))
DLIB_REF_APT := libdlib-dev libblas-dev liblapack-dev pkg-config
DLIB_REF_CXX ?= g++
DLIB_REF_CXXFLAGS ?= -std=c++17 -O2 -w
DLIB_REF_JOBS ?= 2

.PHONY: dlib-ref dlib-ref-deps

dlib-ref:
	@start=$$(date +%s); \
	if ! $(MAKE) --no-print-directory dlib-ref-deps; then \
		echo "dlib-ref: could not install $(DLIB_REF_APT); dlib C++ reference tests will skip"; \
	elif ! $(MAKE) --no-print-directory -j$(DLIB_REF_JOBS) $(DLIB_REF_BIN); then \
		echo "dlib-ref: building $(DLIB_REF_BIN) failed; dlib C++ reference tests will skip"; \
	else \
		echo "dlib-ref: $(DLIB_REF_BIN) up to date ($$(( $$(date +%s) - start )) s)"; \
	fi

# Installs the packages only when the headers or the library are missing (apt-get update only
# when the first install attempt fails).
dlib-ref-deps:
	@if test -f /usr/include/dlib/dnn.h && { ls /usr/lib/*/libdlib.so /usr/lib/libdlib.so 2>/dev/null | grep -q .; }; then \
		exit 0; \
	fi; \
	command -v apt-get >/dev/null || { echo "dlib-ref: no apt-get to install $(DLIB_REF_APT)"; exit 1; }; \
	sudo=""; test "$$(id -u)" = 0 || sudo="sudo -n"; \
	echo "dlib-ref: installing $(DLIB_REF_APT)"; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DLIB_REF_APT) >/dev/null \
		|| { $$sudo apt-get update -qq >/dev/null && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DLIB_REF_APT) >/dev/null; }

$(DLIB_REF_BIN): $(DLIB_REF_OBJS)
	$(DLIB_REF_CXX) -o $@.tmp $^ $$(pkg-config --libs dlib-1 2>/dev/null || echo -ldlib -lblas -llapack -lpthread)
	mv $@.tmp $@

$(DLIB_REF_DIR)/%.o: tools/dlib_ref/%.cpp mk/dlib_ref.mk
	@mkdir -p $(DLIB_REF_DIR)
	$(DLIB_REF_CXX) $(DLIB_REF_CXXFLAGS) $$(pkg-config --cflags dlib-1 2>/dev/null) -MMD -MP -c $< -o $@

-include $(wildcard $(DLIB_REF_DIR)/*.d)

test-prereqs: dlib-ref
