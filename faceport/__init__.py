"""faceport: convert pretrained face networks to verified PyTorch, ONNX and TorchScript."""

__version__ = "0.1.0"
