"""dlib's own C++ library (libdlib-dev 19.24, via ``build/dlib_ref/dlib_ref``): reference
``dlib-cpp``.

The tool (sources in ``tools/dlib_ref``, built by ``make dlib-ref``) loads a model as dlib's
example network types (the mmod face detector of ``dnn_mmod_face_detection_ex.cpp``, the face
ResNet of ``dnn_face_recognition_ex.cpp``), runs dlib's input layer and every layer, and dumps
each layer's output tensor. :class:`DlibCppRunner` drives it with :mod:`subprocess` and names
the outputs like the dlib graph builder names IR nodes (``f"{kind}_{idx}"``, ``kind`` being
the tag ``net_to_xml`` writes, ``idx`` dlib's layer index) plus ``"input"`` (the tensor dlib's
input layer produces, float32 (1, 3, H, W)).

The image is handed over as a binary PPM, so no image decoder stands between the caller's
uint8 array and dlib. The tool is found by :func:`faceport.verify.references.paths.dlib_ref`.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from faceport.backends.base import Feed, Outputs, Runner
from faceport.errors import FaceportError
from faceport.ir import Graph
from faceport.verify.references import paths

log = logging.getLogger(__name__)

KINDS = {"mmod": "image", "resnet": "chip"}
DEFAULT_TIMEOUT_S = 600.0


def dlib_ref_binary() -> Path | None:
    """The built tool, or ``None`` when it is absent."""
    return paths.dlib_ref().path


def why_no_binary() -> str | None:
    """``None`` when the tool is built, else how to build it."""
    return paths.dlib_ref().missing


def run_tool(args: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
    """Run ``dlib_ref args...``; a failure raises :class:`FaceportError` with its stderr."""
    binary = dlib_ref_binary()
    if binary is None:
        raise FaceportError(why_no_binary() or "dlib_ref missing")
    cmd = [str(binary), *map(str, args)]
    log.debug("running %s", " ".join(cmd))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise FaceportError(f"dlib_ref {args[0]} timed out after {timeout:g} s") from exc
    if proc.returncode != 0:
        raise FaceportError(
            f"dlib_ref {args[0]} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"
        )


def make_layer_cases(outdir: str | os.PathLike[str], *, timeout: float = DEFAULT_TIMEOUT_S) -> Any:
    """Write the one-layer cases (``case_<name>.dat/.xml/_in.npy/_out.npy``); their index."""
    run_tool(["layers", str(outdir)], timeout=timeout)
    return json.loads((Path(outdir) / "index.json").read_text())


def write_xml(kind: str, model: str | os.PathLike[str], out_xml: str | os.PathLike[str]) -> Path:
    """dlib's ``net_to_xml`` of ``model`` read as the ``kind`` (mmod / resnet) network."""
    if kind not in KINDS:
        raise FaceportError(f"unknown dlib network kind {kind!r}; known: {', '.join(KINDS)}")
    run_tool(["to-xml", kind, str(model), str(out_xml)])
    return Path(out_xml)


def write_ppm(path: Path, image: np.ndarray) -> None:
    """``image``: uint8 (H, W, 3) RGB (or (H, W) gray, replicated to RGB as dlib does), written
    as a binary PPM (P6, maxval 255)."""
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise FaceportError(
            "dlib runner input must be a uint8 RGB image",
            field="image",
            expected="uint8 (H, W, 3)",
            found=f"{array.dtype} {array.shape}",
        )
    header = f"P6\n{array.shape[1]} {array.shape[0]}\n255\n".encode("ascii")
    path.write_bytes(header + np.ascontiguousarray(array).tobytes())


def load_dump(outdir: Path) -> tuple[dict[str, Any], Outputs]:
    """The index and arrays of a ``dump-mmod`` / ``dump-resnet`` directory, named like IR nodes."""
    index = json.loads((outdir / "index.json").read_text())
    outputs: Outputs = {"input": np.load(outdir / index["input"]["file"])}
    for entry in index["layers"]:
        outputs[entry["name"]] = np.load(outdir / entry["file"])
    if index.get("loss") and index["layers"]:
        # the graph builder's identity head for the loss layer (index 0) sees layer 1's output
        outputs[f"{index['loss']}_0"] = outputs[index["layers"][0]["name"]]
    if "detections" in index:
        dets = index["detections"]
        outputs["detections"] = np.array(
            [[d["left"], d["top"], d["right"], d["bottom"], d["confidence"]] for d in dets],
            dtype=np.float64,
        ).reshape(-1, 5)
    if "descriptor" in index:
        outputs["descriptor"] = np.load(outdir / "descriptor.npy")
    return index, outputs


class DlibCppRunner(Runner):
    """Every layer of a dlib model computed by dlib's C++ library.

    ``kind`` is ``"mmod"`` (feed ``{"image": uint8 (H, W, 3) RGB}``; ``upsample`` pyramid_up
    steps first, as dlib's Python detector does) or ``"resnet"`` (feed ``{"chip": uint8
    (150, 150, 3) RGB}``; the verify matrix's ``"@image"`` is taken too). Outputs:
    ``"input"``, one array per layer named ``f"{kind}_{idx}"`` (faceport's dlib node and tensor
    names), the loss head, and ``"detections"`` ((N, 5): left, top, right, bottom (inclusive,
    dlib's rectangle), confidence) or ``"descriptor"`` ((128,)); with ``wanted`` only those
    names (float32). ``index`` holds the last dump's index (layer kinds, shapes, which layers
    were recomputed).
    """

    name = "dlib-cpp"

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        kind: str,
        *,
        upsample: int = 0,
        timeout: float = DEFAULT_TIMEOUT_S,
        keep_dir: str | os.PathLike[str] | None = None,
        wanted: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        if kind not in KINDS:
            raise FaceportError(f"unknown dlib network kind {kind!r}; known: {', '.join(KINDS)}")
        self.model_path = Path(model_path)
        self.kind = kind
        self.upsample = int(upsample)
        self.timeout = timeout
        self.keep_dir = None if keep_dir is None else Path(keep_dir)
        self.wanted = None if wanted is None else list(wanted)
        self.index: dict[str, Any] = {}
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._calls = 0

    def why_unavailable(self) -> str | None:
        reason = why_no_binary()
        if reason is None and not self.model_path.is_file():
            reason = f"model file {self.model_path} does not exist"
        if reason is None and self.model_path.suffix.lower() != ".dat":
            reason = "the C++ dumper reads serialized .dat networks (net_to_xml cannot be loaded)"
        return reason

    def activate(self) -> None:
        if self.keep_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="dlib_ref_")

    def run(self, feed: Feed) -> Outputs:
        key = KINDS[self.kind]
        if key not in feed and "@image" in feed:
            feed = {key: feed["@image"]}
        if key not in feed:
            raise FaceportError(f"dlib {self.kind} runner needs feed {key!r}, got {sorted(feed)}")
        base = self.keep_dir if self.keep_dir is not None else Path(self._tmp.name)  # type: ignore[union-attr]
        self._calls += 1
        work = base / f"run{self._calls}"
        work.mkdir(parents=True, exist_ok=True)
        image_path = work / f"{key}.ppm"
        write_ppm(image_path, feed[key])
        outdir = work / "dump"
        args = [f"dump-{self.kind}", str(self.model_path), str(image_path), str(outdir)]
        if self.kind == "mmod":
            args.append(str(self.upsample))
        run_tool(args, timeout=self.timeout)
        self.index, outputs = load_dump(outdir)
        if self.wanted is None:
            return outputs
        return {n: np.asarray(outputs[n], np.float32) for n in self.wanted if n in outputs}

    def deactivate(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def runner(
    graph: Graph, source: Path, taps: Sequence[str] | None = None, *, timeout: float | None = None
) -> Runner:
    """Reference entry ``dlib-cpp``: dlib's C++ forward pass of an MMOD ``.dat`` on the raw
    image, returning the graph outputs (or ``taps``: faceport tensor names)."""
    wanted = list(graph.outputs if taps is None else taps)
    return DlibCppRunner(source, "mmod", wanted=wanted, timeout=timeout or DEFAULT_TIMEOUT_S)
