# C++ libtorch loader for TorchScript exports (tools/libtorch_loader); cached by source hash
# and torch version in build/libtorch_loader/. ~25 s of CPU to compile; the test builds it on
# demand, so it is not a test prerequisite.
.PHONY: libtorch-loader
libtorch-loader: $(STAMP)
	$(BIN)/python tools/libtorch_loader/build.py build/libtorch_loader
