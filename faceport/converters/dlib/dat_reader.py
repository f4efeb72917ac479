"""Read a dlib DNN saved with ``dlib::serialize(file) << net`` (a ``.dat``), without dlib.

Layout (``dlib/dnn/core.h``): the network is a template chain serialized outermost first.
A net trained with a loss starts with ``add_loss_layer``: int 1, the loss details
(``"loss_mmod_"``...), then the layer chain; a bare layer chain (a net declared without a
loss) starts directly with its top wrapper. :mod:`.dat_chain` reads the chain (wrapper
versions going down, layer details coming back up, ``repeat<>`` unrolled). The per-layer
deserializers live in :mod:`.dat_layers` / :mod:`.dat_sequence` / :mod:`.dat_heads`;
tag/skip layers and their ids are recovered by :mod:`.dat_wiring` (read its docstring).

Template parameters are not in the file: the input pyramid's ``pyramid_down<N>``, the
K of an ``input<std::array<matrix, K>>`` image stack and softmax's mode (dlib 20's
``softmaxm``) are assumed and listed in ``meta["assumptions"]``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from faceport.converters.dlib import dat_layers, dat_sequence
from faceport.converters.dlib.binary import BinaryReader
from faceport.converters.dlib.dat_chain import ChainReader, read_details
from faceport.converters.dlib.dat_heads import INPUTS, LOSSES
from faceport.converters.dlib.dat_layers import ASSUMED_ATTR, LayerFn
from faceport.converters.dlib.dat_wiring import Pending, resolve_wiring
from faceport.converters.dlib.layers import DlibLayer
from faceport.errors import FormatError
from faceport.ir import Source

log = logging.getLogger(__name__)

LAYERS: dict[str, LayerFn] = {**dat_layers.LAYERS, **dat_sequence.LAYERS}
# dlib 20 sequence-model layers: a net holding one likely uses softmaxm (plane_wise)
_SEQUENCE_KINDS = frozenset({"linear", "multm_prev", "tril", "embeddings", "rms_norm",
                             "positional_encodings"})

_NOT_DNN_HINT = (
    "not a dlib DNN: a dlib network .dat starts with add_loss_layer's version 1 and a "
    "'loss_*' string, or with a layer wrapper version (shape_predictor, "
    "frontal_face_detector... files are other objects)"
)


def _read_loss(r: BinaryReader) -> Pending | None:
    """The loss layer, or None (position unchanged) for a net saved without one."""
    try:
        version = r.read_int("add_loss_layer.version", 4)
        name = r.peek_string()
    except FormatError:
        raise r.error("not a dlib DNN", field="add_loss_layer", offset=0,
                      expected="a dlib network", found=bytes(r.view[:16]),
                      hint=_NOT_DNN_HINT) from None
    if version == 1 and name is not None and name.startswith("loss_"):
        return read_details(r, LOSSES, "loss layer", 0)
    r.pos = 0
    return None


def _read_body(r: BinaryReader, first_idx: int) -> tuple[list[Pending], int]:
    chain = ChainReader(r, LAYERS, INPUTS)
    try:
        return chain.read(first_idx), chain.repeats
    except FormatError as exc:
        if first_idx:
            raise
        raise FormatError(
            f"not a dlib DNN: no loss layer, and as a bare layer chain: {exc.message} "
            f"({exc.field} at offset {exc.offset})",
            file=exc.file, offset=0, field="add_loss_layer",
            expected="int 1 then a 'loss_*' string, or a layer chain", found=exc.found,
            hint=_NOT_DNN_HINT,
        ) from None


def _as_printed(value: Any) -> Any:
    """Floats rounded as net_to_xml prints them (9 significant digits), so that the .dat and
    the XML of one network give identical attrs; ints, bools, strings unchanged."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: _as_printed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_printed(v) for v in value]
    return value


def _assumptions(records: list[Pending]) -> list[str]:
    """Collect (and strip) the attrs the file could not hold."""
    notes = []
    for rec in records:
        key = rec.attrs.pop(ASSUMED_ATTR, None)
        if key is not None:
            notes.append(f"layer {rec.idx} ({rec.kind}): {key}={rec.attrs[key]!r} assumed "
                         "(a template parameter, not stored in the .dat)")
    inp = records[-1]
    if inp.attrs.get("pyramid_down_assumed"):
        notes.append(f"input: pyramid_down={inp.attrs['pyramid_down']} assumed")
    if inp.kind == "input":
        notes.append("input: channel count unknown (input<matrix>, input<array2d> or an "
                     "input<std::array<matrix, K>> image stack)")
    return notes


def _bn_to_affine(rec: Pending) -> None:
    """What dlib's affine_(const bn_&) does when a bn_ .dat loads into an affine net:
    gamma' = gamma / sqrt(running_var + eps), beta' = beta - gamma' * running_mean (float32)."""
    p, eps = rec.params, np.float32(rec.attrs["eps"])
    gamma = p["gamma"] / np.sqrt(p["running_var"] + eps)
    beta = p["beta"] - gamma * p["running_mean"]
    rec.kind = rec.kind.replace("bn_", "affine_")
    rec.attrs, rec.params = {}, {"gamma": gamma.astype(np.float32), "beta": beta.astype(np.float32)}


def read_dat(
    path: str | Path, *, pyramid_down: int | None = None, bn_as_affine: bool = False
) -> tuple[list[DlibLayer], dict[str, Any]]:
    """Parse a dlib DNN ``.dat`` into :class:`DlibLayer` records (index 0 = loss).

    ``pyramid_down``: the input pyramid's ``pyramid_down<N>`` (a template parameter, not in
    the file; 6 is assumed and flagged when omitted). ``bn_as_affine``: convert ``bn_con`` /
    ``bn_fc`` into ``affine_con`` / ``affine_fc`` exactly as dlib does when the file is
    loaded into a network type declared with ``affine`` (the deployment idiom).
    Returns ``(layers, meta)``; meta records file-level facts (size, trailing bytes, wiring).
    """
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read file: {exc.strerror}", file=file) from None
    return read_dat_bytes(data, file, pyramid_down=pyramid_down, bn_as_affine=bn_as_affine)


def read_dat_bytes(
    data: bytes, file: str, *, pyramid_down: int | None = None, bn_as_affine: bool = False
) -> tuple[list[DlibLayer], dict[str, Any]]:
    """:func:`read_dat` on bytes already in memory; ``file`` names them in errors."""
    started = time.perf_counter()
    r = BinaryReader(data, file)
    loss = _read_loss(r)
    body, repeats = _read_body(r, 1 if loss else 0)
    records = [loss, *body] if loss else body
    if bn_as_affine:
        for rec in records:
            if rec.kind in ("bn_con", "bn_fc"):
                _bn_to_affine(rec)
    inp = records[-1]
    if pyramid_down is not None and "pyramid_down" in inp.attrs:
        inp.attrs["pyramid_down"], inp.attrs["pyramid_down_assumed"] = pyramid_down, False
    wiring = resolve_wiring(records, file)
    assumptions = _assumptions(records)
    if any(rec.kind in _SEQUENCE_KINDS for rec in records) and any(
        rec.kind == "softmax" for rec in records
    ):
        log.warning("%s: softmax layers read as channel_wise; a dlib 20 softmaxm "
                    "(plane_wise) cannot be told apart in a .dat: convert the XML", file)
    if r.left:
        log.warning("%s: %d bytes after the network were not read", file, r.left)
    seconds = time.perf_counter() - started
    meta = {
        "format": "dlib_dat",
        "file": file,
        "bytes": len(data),
        "trailing_bytes": r.left,
        "num_layers": len(records),
        "wiring": wiring,
        "has_loss": loss is not None,
        "repeats_unrolled": repeats,
        "assumptions": assumptions,
        "bn_as_affine": bn_as_affine,
        "read_seconds": seconds,
    }
    layers = [
        DlibLayer(rec.idx, rec.kind, _as_printed(rec.attrs), rec.params,
                  Source(file=file, offset=rec.offset))
        for rec in records
    ]
    log.debug("%s: %d layers in %.3f s", file, len(layers), seconds)
    return layers, meta
