"""docs/mxnet_ops.md is generated from the registry and must be current; converters are tidy."""

from __future__ import annotations

import inspect

from faceport.converters.mxnet.ops.table import DOC, render
from faceport.registry import supported_ops, table
from tests.conftest import REPO


def test_generated_table_is_current() -> None:
    doc = REPO / DOC
    assert doc.exists(), "run: python -m faceport.converters.mxnet.ops.table"
    assert doc.read_text(encoding="utf-8") == render(), (
        "docs/mxnet_ops.md is stale: run python -m faceport.converters.mxnet.ops.table"
    )


def test_required_ops_are_registered() -> None:
    required = {
        "Convolution", "Deconvolution", "BatchNorm", "Activation", "LeakyReLU", "Pooling",
        "UpSampling", "Crop", "Concat", "elemwise_add", "_Plus", "_plus", "elemwise_mul",
        "broadcast_add", "broadcast_mul", "broadcast_sub", "broadcast_div", "_plus_scalar",
        "_minus_scalar", "_mul_scalar", "_div_scalar", "_rminus_scalar", "_rdiv_scalar",
        "Reshape", "Flatten", "FullyConnected", "SoftmaxActivation", "softmax", "SoftmaxOutput",
        "LinearRegressionOutput", "Dropout", "identity", "_copy", "BlockGrad", "clip",
        "slice_axis", "slice", "transpose", "expand_dims", "L2Normalization", "Cast",
    }
    assert required <= set(supported_ops("mxnet"))


def test_converters_are_named_and_documented() -> None:
    for op, fn in table("mxnet").items():
        assert fn.__name__.startswith("mxnet_"), op
        assert (inspect.getdoc(fn) or "").strip(), f"{op}: converter without a docstring"
