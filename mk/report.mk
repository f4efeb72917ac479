# Headless Chromium renders the verify HTML report in tests (tests skip when it is absent).
.PHONY: chromium
CHROMIUM := $(shell command -v chromium 2>/dev/null)

chromium:
ifeq ($(CHROMIUM),)
	-DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
	  || (apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null 2>&1) \
	  || echo "chromium could not be installed: the HTML rendering test will skip"
endif

test-prereqs: chromium
