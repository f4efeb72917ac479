"""exporters/: ONNX and TorchScript files from a converted graph (one ``lower`` for both)."""
