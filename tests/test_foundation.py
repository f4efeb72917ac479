"""The common graph, registry, lowering and pickle-free serialization."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from faceport import registry, serialize
from faceport.errors import FormatError, InternalError, UnsupportedOpError
from faceport.ir import Graph, Node, Source, TensorSpec
from faceport.kinds import with_info
from faceport.lower import lower

FW = "unittest"


class _Scale(nn.Module):
    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight.view(1, -1, 1, 1)


class _Split(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x[:, :1], x[:, 1:]


class _Add(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b


@registry.register(FW, "scale")
def unittest_scale(node: Node, ctx: registry.LowerContext) -> nn.Module:
    """y = x * weight[c] per channel."""
    return _Scale(ctx.param(node, "weight"))


@registry.register(FW, "split")
def unittest_split(node: Node, ctx: registry.LowerContext) -> nn.Module:
    """Channel 0 and channels 1.. as two outputs."""
    return _Split()


@registry.register(FW, "add")
def unittest_add(node: Node, ctx: registry.LowerContext) -> nn.Module:
    """Elementwise a + b."""
    return _Add()


def small_graph() -> Graph:
    src = Source(file="net.test", line=3)
    nodes = (
        Node("scale", "conv4_3", ("data",), ("conv4_3",), {"k": [1, 2]}, {"weight": "w"}, src),
        Node("split", "ssh.split", ("conv4_3",), ("a", "b"), source=Source(key="split")),
        Node("add", "9out", ("a", "b"), ("out",), {"inf": float("inf")}),
    )
    return Graph(
        framework=FW,
        inputs=(TensorSpec("data", (None, 2, None, None)),),
        nodes=nodes,
        outputs=("out",),
        params={"w": np.array([2.0, 3.0], dtype=np.float32)},
        meta={"family": "unit_test", "source": {"file": "net.test", "sha256": "0" * 64}},
    ).validate()


def test_lower_keeps_source_names_and_computes() -> None:
    gm = lower(small_graph())
    names = dict(gm.named_children())
    assert "conv4_3" in names and "ssh_split" in names and "n_9out" in names
    x = torch.arange(2 * 2 * 3 * 3, dtype=torch.float32).reshape(2, 2, 3, 3)
    expected = x[:, :1] * 2 + x[:, 1:] * 3
    torch.testing.assert_close(gm(x), expected)
    assert gm.meta["faceport"]["modules"]["9out"] == "n_9out"


def test_lower_taps_intermediate_tensors() -> None:
    gm = lower(small_graph(), outputs=["conv4_3", "b", "out"])
    x = torch.ones(1, 2, 2, 2)
    conv, b, out = gm(x)
    assert conv.shape == (1, 2, 2, 2) and float(b.max()) == 3.0 and float(out.max()) == 5.0


def test_unknown_op_names_op_node_file_and_supported() -> None:
    g = small_graph()
    bad = Node("Crop3D", "crop9", ("data",), ("c",), source=Source(file="m-symbol.json", line=7))
    graph = Graph(FW, g.inputs, (*g.nodes, bad), ("c",), g.params, {}).validate()
    with pytest.raises(UnsupportedOpError) as info:
        lower(graph)
    text = str(info.value)
    assert "Crop3D" in text and "crop9" in text and "m-symbol.json:7" in text
    assert "add, scale, split" in text


def test_duplicate_registration_is_an_internal_error() -> None:
    with pytest.raises(InternalError, match="registered twice"):
        registry.register(FW, "add")(unittest_add)
    assert not issubclass(InternalError, FormatError)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda n: (*n, Node("add", "conv4_3", ("a", "b"), ("z",))), "duplicate node name"),
        (lambda n: (Node("add", "x", ("nope", "a"), ("z",)), *n), "before it is produced"),
        (lambda n: (*n, Node("add", "y", ("a", "b"), ("out",))), "produced twice"),
        (lambda n: (*n, Node("scale", "y", ("a",), ("z",), params={"weight": "gone"})), "missing"),
    ],
)
def test_validate_rejects_broken_graphs(mutate, message) -> None:  # type: ignore[no-untyped-def]
    g = small_graph()
    with pytest.raises(FormatError, match=message):
        Graph(FW, g.inputs, mutate(g.nodes), g.outputs, g.params).validate()


def test_save_load_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    graph = small_graph()
    path = serialize.save(graph, tmp_path / "m.safetensors")
    again = serialize.load(path)
    assert again.same_structure(graph)
    assert again.structure_json() == with_info(graph).structure_json()
    assert again.nodes[0].source == Source(file="net.test", line=3)
    assert again.nodes[2].attrs["inf"] == "inf"
    np.testing.assert_array_equal(again.params["w"], graph.params["w"])
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]
    x = torch.randn(1, 2, 4, 4)
    torch.testing.assert_close(lower(again)(x), lower(graph)(x), rtol=0, atol=0)


def test_load_rejects_foreign_and_corrupt_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from safetensors.numpy import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"w": np.zeros(2, np.float32)}, str(plain))
    with pytest.raises(FormatError, match="not a faceport model file"):
        serialize.load(plain)
    good = serialize.save(small_graph(), tmp_path / "good.safetensors")
    data = bytearray(good.read_bytes())
    for cut in (0, 7, 8, 40, len(data) // 2, len(data) - 1):
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(bytes(data[:cut]))
        with pytest.raises(FormatError):
            serialize.load(bad)
    # a graph whose JSON references a parameter the weights lack
    meta = json.loads(json.dumps(small_graph().structure_json()))
    meta["params"]["extra"] = {"shape": [3], "dtype": "float32"}
    forged = tmp_path / "forged.safetensors"
    save_file(
        {"w": np.ones(2, np.float32)},
        str(forged),
        metadata={serialize.FORMAT_KEY: "1", serialize.GRAPH_KEY: json.dumps(meta)},
    )
    with pytest.raises(FormatError, match="lacks parameter 'extra'"):
        serialize.load(forged)


def test_failed_save_leaves_no_file(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def boom(tmp):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(serialize, "load", boom)
    with pytest.raises(KeyboardInterrupt):
        serialize.save(small_graph(), tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_import_faceport_is_light() -> None:
    code = (
        "import sys, faceport, faceport.ir, faceport.errors, faceport.converters; "
        "heavy = [m for m in ('onnxruntime', 'mxnet', 'dlib', 'torch', 'onnx') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
