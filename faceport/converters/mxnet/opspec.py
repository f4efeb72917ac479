"""What each MXNet op's inputs are (data tensors, weights by role, or training labels) and
how many outputs it has.

MXNet lists an op's weights as ordinary inputs wired to variable (``op "null"``) nodes, in the
order of the op's ``FListInputNames`` (e.g. Convolution: data, weight, bias; BatchNorm: data,
gamma, beta, moving_mean, moving_var). The reader turns those inputs into ``Node.params``
roles; the label input of a loss/output op exists only for training and is dropped.
"""

from __future__ import annotations

from faceport.converters.mxnet import attrs as A
from faceport.errors import FormatError
from faceport.ir import Node

DATA = "data"
LABEL = "label"
#: ops whose last input is a training label (dropped at inference)
OUTPUT_OPS = frozenset(
    {"SoftmaxOutput", "Softmax", "LinearRegressionOutput", "LogisticRegressionOutput",
     "MAERegressionOutput"}
)
def input_roles(node: Node) -> list[str]:
    """Role of each input slot in MXNet's order: ``"data"``, ``"label"`` or a weight role.

    Ops not listed take data only (as many as the JSON gives); the reader checks counts.
    """
    op = node.op
    if op in ("Convolution", "FullyConnected", "Deconvolution"):
        no_bias = A.get_bool(node, "no_bias", op == "Deconvolution")
        return [DATA, "weight"] + ([] if no_bias else ["bias"])
    if op == "BatchNorm":
        return [DATA, "gamma", "beta", "moving_mean", "moving_var"]
    if op == "LeakyReLU" and node.attrs.get("act_type") == "prelu":
        return [DATA, "gamma"]
    if op == "UpSampling" and node.attrs.get("sample_type") == "bilinear":
        return [DATA, "weight"]
    if op in OUTPUT_OPS:
        return [DATA, LABEL]
    return []


#: ops whose output count comes from their ``num_outputs`` attribute
MULTI_OUTPUT = ("SliceChannel", "split")
MAX_OUTPUTS = 4096


def output_count(node: Node) -> int:
    """How many outputs ``node`` has (1 for every single-output op)."""
    if node.op in MULTI_OUTPUT:
        count: int = A.get_int(node, "num_outputs", minimum=1)
        if count > MAX_OUTPUTS:
            raise FormatError(f"{node.op} {node.name!r} asks for {count} outputs",
                              field="num_outputs", expected=f"<= {MAX_OUTPUTS}", found=count)
        return count
    return 1
