"""The MXNet family: ``<prefix>-symbol.json`` + ``<prefix>-NNNN.params`` checkpoints.

``convert`` accepts the symbol file, a ``.params`` file, or the prefix itself; the parameter
file is the only ``<prefix>-NNNN.params`` there, or the newest epoch, or the one chosen with
``epoch=N``. RetinaFace checkpoints (insightface's mnet.25, R50) are recognised by their
``face_rpn_cls_prob_reshape_stride<S>`` heads; insightface's ``RetinaFace.detect`` feeds them
float RGB pixels 0..255 with pixel_means 0, pixel_stds 1, pixel_scale 1 (it reverses the
channels of a cv2 BGR image), which ``meta["preprocess"]`` records.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faceport.converters import Detector, Family
from faceport.errors import FaceportError

if TYPE_CHECKING:
    from faceport.ir import Graph

SYMBOL_SUFFIX = "-symbol.json"
_PARAMS = re.compile(r"-(\d{4,})\.params$")
RETINAFACE_HEAD = re.compile(r"face_rpn_(cls_prob_reshape|bbox_pred|landmark_pred)_stride(\d+)$")


def _prefix(path: Path) -> Path:
    name = path.name
    if name.endswith(SYMBOL_SUFFIX):
        return path.with_name(name[: -len(SYMBOL_SUFFIX)])
    match = _PARAMS.search(name)
    if match:
        return path.with_name(name[: match.start()])
    return path


def checkpoint_files(path: str | Path, epoch: int | None = None) -> tuple[Path, Path]:
    """``(symbol.json, params)`` for a symbol file, params file or prefix."""
    p = Path(path)
    prefix = _prefix(p)
    symbol = prefix.with_name(prefix.name + SYMBOL_SUFFIX)
    if not symbol.is_file():
        raise FaceportError("MXNet symbol file not found", file=str(symbol),
                            hint="pass <prefix>-symbol.json or the checkpoint prefix")
    if p.name.endswith(".params") and epoch is None:
        return symbol, p
    epochs: dict[int, Path] = {}
    for candidate in prefix.parent.glob(f"{glob_escape(prefix.name)}-*.params"):
        match = _PARAMS.search(candidate.name)
        if match and candidate.name[: match.start()] == prefix.name:
            epochs[int(match.group(1))] = candidate
    if epoch is not None:
        if epoch not in epochs:
            raise FaceportError(f"no parameter file for epoch {epoch}", file=str(prefix),
                                field="epoch", expected=sorted(epochs), found=epoch)
        return symbol, epochs[epoch]
    if not epochs:
        raise FaceportError("no <prefix>-NNNN.params file beside the symbol", file=str(symbol))
    return symbol, epochs[max(epochs)]


def glob_escape(text: str) -> str:
    return re.sub(r"([\[\]*?])", r"[\1]", text)


def is_retinaface(graph: Graph) -> bool:
    """True when the outputs are RetinaFace's cls/bbox/landmark heads per stride."""
    return bool(graph.outputs) and any(
        RETINAFACE_HEAD.search(name) and "cls_prob" in name for name in graph.outputs
    ) and all(RETINAFACE_HEAD.search(name) for name in graph.outputs)


class MXNetFamily(Family):
    """MXNet Module checkpoints (symbol JSON + NDArray-list params), read without MXNet."""

    name = "mxnet"
    description = "<prefix>-symbol.json with <prefix>-NNNN.params (MXNet checkpoint)"

    def sniff(self, path: Path) -> bool:
        p = Path(path)
        if p.name.endswith(SYMBOL_SUFFIX):
            return True
        if p.suffix == ".params" and p.is_file():
            with open(p, "rb") as handle:
                return handle.read(8) == (0x112).to_bytes(8, "little")
        return p.with_name(p.name + SYMBOL_SUFFIX).is_file()

    def convert(self, path: Path, **options: Any) -> Graph:
        from dataclasses import replace

        from faceport.converters.mxnet.reader import read_model
        from faceport.serialize import sha256_file

        symbol, params = checkpoint_files(path, options.get("epoch"))
        graph = read_model(symbol, params)
        meta: dict[str, Any] = dict(graph.meta)
        sources = [{"file": f.name, "sha256": sha256_file(f)} for f in (symbol, params)]
        meta.update(
            family="mxnet",
            source=sources[0],
            sources=sources,
            input={"name": graph.inputs[0].name, "shape": list(graph.inputs[0].shape)}
            if graph.inputs
            else None,
        )
        if is_retinaface(graph):
            meta["model"] = "retinaface"
            meta["preprocess"] = {
                "color": "RGB",
                "mean": [0.0, 0.0, 0.0],
                "std": [1.0, 1.0, 1.0],
                "scale": 1.0,
                "layout": "NCHW",
                "note": "insightface RetinaFace.detect: (pixel/pixel_scale - mean)/std, RGB",
            }
            meta["strides"] = sorted(
                {int(m.group(2)) for n in graph.outputs if (m := RETINAFACE_HEAD.search(n))},
                reverse=True,
            )
        return replace(graph, meta=meta)

    def detector(self, graph: Graph, *, device: str = "cpu") -> Detector | None:
        if not is_retinaface(graph):
            return None
        from faceport.detect.retinaface import RetinaFaceDetector

        return RetinaFaceDetector(graph, device=device)


FAMILY = MXNetFamily()
