# ExecuTorch for the .pte form (faceport export --format pte) and the executorch-xnnpack-cpu
# backend. Installed --no-deps into build/executorch: its declared dependencies pull in
# coremltools, pandas, scikit-learn and hydra, none of which the XNNPACK export and runtime
# import; the four packages below are what they do import (measured 2026-12-04: 131 MB).
# tests/conftest.py puts the folder on sys.path; users install `pip install executorch`.
# If installing fails, `executorch-prereq` says why and succeeds: the .pte tests then skip.
ET_DIR := build/executorch
ET_PKGS := executorch==1.5.1 torchao==0.18.0 ruamel.yaml==0.19.1 tabulate==0.10.0

.PHONY: executorch-prereq

executorch-prereq: $(STAMP)
	@mkdir -p build; if [ -f $(ET_DIR)/.done ]; then echo "executorch: ready ($(ET_DIR))"; \
	elif rm -rf $(ET_DIR).tmp && $(BIN)/pip install --quiet --no-deps --target $(ET_DIR).tmp \
		$(ET_PKGS) >build/executorch.log 2>&1; then \
		rm -rf $(ET_DIR) && mv $(ET_DIR).tmp $(ET_DIR) && touch $(ET_DIR)/.done && \
		echo "executorch: installed into $(ET_DIR)"; \
	else echo "executorch: installing failed (see build/executorch.log); the .pte tests" \
		"will skip"; tail -3 build/executorch.log; fi

test-prereqs: executorch-prereq
