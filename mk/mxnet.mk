# MXNet reference environment: a separate venv (.venv-mxnet) with mxnet 1.9.1, never the main one.
# MXNet 1.9 uses numpy aliases removed in numpy 1.24 (np.bool, np.int), hence the pin.
# Idempotent: the stamp is rebuilt only when this file changes. If pip cannot install mxnet
# (no wheel for this platform, no registry), the target says why and succeeds anyway: the
# tests marked `reference` then skip, naming `make reference-mxnet`.
MXNET_VENV := .venv-mxnet
MXNET_STAMP := $(MXNET_VENV)/.installed
MXNET_PY ?= python3.11
MXNET_PIP_SPECS := 'mxnet==1.9.1' 'numpy<1.24'

.PHONY: reference-mxnet mxnet-fixtures

reference-mxnet: $(MXNET_STAMP)

$(MXNET_STAMP): mk/mxnet.mk
	@set -u; start=$$(date +%s); \
	if ! { test -x $(MXNET_VENV)/bin/python || $(MXNET_PY) -m venv $(MXNET_VENV); }; then \
		echo "reference-mxnet: cannot create $(MXNET_VENV) with $(MXNET_PY); MXNet parity tests will skip"; \
		exit 0; \
	fi; \
	if ! $(MXNET_VENV)/bin/pip install --quiet $(MXNET_PIP_SPECS); then \
		echo "reference-mxnet: pip could not install $(MXNET_PIP_SPECS) into $(MXNET_VENV); MXNet parity tests will skip"; \
		exit 0; \
	fi; \
	if ! $(MXNET_VENV)/bin/python -c 'import mxnet' 2>/tmp/reference-mxnet.err; then \
		if grep -qE 'libgomp|libquadmath|libgfortran' /tmp/reference-mxnet.err && command -v apt-get >/dev/null; then \
			echo "reference-mxnet: mxnet lacks a system library; installing libgomp1 libquadmath0"; \
			apt-get install -y -qq libgomp1 libquadmath0 >/dev/null 2>&1 \
				|| { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq libgomp1 libquadmath0 >/dev/null 2>&1; } \
				|| true; \
		fi; \
	fi; \
	if $(MXNET_VENV)/bin/python -c 'import mxnet, numpy; print("reference-mxnet: mxnet", mxnet.__version__, "numpy", numpy.__version__)'; then \
		touch $(MXNET_STAMP); \
		echo "reference-mxnet: ready in $$(( $$(date +%s) - start )) s"; \
	else \
		echo "reference-mxnet: 'import mxnet' fails in $(MXNET_VENV):"; tail -3 /tmp/reference-mxnet.err; \
		echo "reference-mxnet: MXNet parity tests will skip"; \
	fi

# Fixtures (random-weight R50-style RetinaFace and one-op checkpoints) are made on demand by the
# tests; this target makes them ahead of time.
mxnet-fixtures: $(MXNET_STAMP)
	$(MXNET_VENV)/bin/python tools/mxnet_ref/make_fixtures.py --out build/mxnet_fixtures

test-prereqs: reference-mxnet
