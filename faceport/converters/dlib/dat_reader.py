"""Read a dlib DNN saved with ``dlib::serialize(file) << net`` (a ``.dat``), without dlib.

Layout (``dlib/dnn/core.h``): the network is a template chain serialized outermost first,
each wrapper writing its version *before* its subnetwork and its layer details *after* it::

    add_loss_layer:  int 1, loss details ("loss_mmod_"...), subnetwork
    add_layer:       int 2 (int 1 before 2017), subnetwork, details, 3 bools,
                     x_grad, cached_output (tensors), params_grad (version 2 only)
    add_tag_layer / add_skip_layer:  int 1, subnetwork (indistinguishable in the file)
    add_layer over the input layer:  int 3 (or 2), input layer, details, 3 bools,
                     x_grad, cached_output, grad_final, sample_expansion_factor (v3)
    add_tag_layer over the input layer:  int 2 (or 1), input layer, cached_output,
                     grad_final, bool, sample_expansion_factor (v2)

So the file holds every wrapper version from the top down to the input layer, then every
layer's details from the bottom back up. We read it in two loops (no recursion, so a
hostile file cannot exhaust the stack): headers going down, details coming back up. The
per-layer deserializers live in :mod:`.dat_layers` / :mod:`.dat_heads`; tag/skip layers
and their ids are recovered by :mod:`.dat_wiring` (read its docstring for the rule).
``repeat<>`` layers and networks saved without a loss layer are not supported.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from faceport.converters.dlib.binary import BinaryReader
from faceport.converters.dlib.dat_heads import INPUTS, LOSSES
from faceport.converters.dlib.dat_layers import LAYERS, PRIVATE_ATTR_PREFIX, LayerFn
from faceport.converters.dlib.dat_wiring import TAG_OR_SKIP, Pending, resolve_wiring
from faceport.converters.dlib.layers import DlibLayer
from faceport.errors import FormatError
from faceport.ir import Source

log = logging.getLogger(__name__)

_NOT_DNN_HINT = (
    "not a dlib DNN: a dlib network .dat starts with add_loss_layer's version 1 and a "
    "'loss_*' string (shape_predictor, frontal_face_detector... files are other objects)"
)


def _is_version_string(name: str | None) -> bool:
    """Whether a peeked string is a version string rather than the bytes of a small int
    or a tensor header (those read as strings of at most 2 unprintable bytes)."""
    return name is not None and len(name) >= 4


def _details(r: BinaryReader, table: dict[str, LayerFn], what: str, idx: int) -> Pending:
    """Read one version string and dispatch to its deserializer, adding layer context."""
    offset = r.pos
    version = r.read_string(f"layer {idx} {what} version string", 64)
    parse = table.get(version)
    if parse is None:
        raise r.error(
            f"unknown dlib {what} version string", field=f"layer {idx} {what}", offset=offset,
            found=version, hint=f"expected one of: {', '.join(sorted(table))}",
        )
    try:
        kind, attrs, params = parse(r, version)
    except FormatError as exc:
        raise FormatError(
            exc.message, file=exc.file, offset=exc.offset,
            field=f"layer {idx} ({version}) {exc.field}", expected=exc.expected,
            found=exc.found, hint=exc.hint,
        ) from None
    attrs = {k: v for k, v in attrs.items() if not k.startswith(PRIVATE_ATTR_PREFIX)}
    return Pending(idx, kind, offset, attrs, params)


def _trailer(r: BinaryReader, idx: int, tensors: tuple[str, ...], bools: int = 3) -> None:
    """Skip a wrapper's training state (flags and gradient/output tensors) after details."""
    for i in range(bools):
        r.read_bool(f"layer {idx} state flag {i}")
    for name in tensors:
        r.read_tensor(f"layer {idx} {name}", keep=False)


def _read_loss(r: BinaryReader) -> Pending:
    try:
        version = r.read_int("add_loss_layer.version", 4)
        name = r.peek_string()
    except FormatError:
        version, name = -1, None
    if version != 1 or name is None or not name.startswith("loss_"):
        raise r.error("not a dlib DNN", field="add_loss_layer", offset=0,
                      expected="int 1 then a 'loss_*' string", found=name, hint=_NOT_DNN_HINT)
    return _details(r, LOSSES, "loss layer", 0)


def _read_headers(r: BinaryReader, first_idx: int) -> tuple[list[tuple[int, int]], int, int]:
    """Wrapper versions from the top down to the input layer: ([(version, offset)...],
    bottom wrapper version, its offset)."""
    frames: list[tuple[int, int]] = []
    while True:
        idx = first_idx + len(frames)
        offset = r.pos
        version = r.read_int(f"layer {idx} wrapper version", 4)
        name = r.peek_string()
        if name in LAYERS:
            raise r.error("repeat<> layers are not supported", field=f"layer {idx}",
                          found=name, hint="convert the net_to_xml XML instead")
        if _is_version_string(name):  # known or not: _details reports unknown ones
            return frames, version, offset
        if version not in (1, 2):
            raise r.error("unknown layer wrapper version", field=f"layer {idx} wrapper",
                          offset=offset, expected="1 (tag/skip) or 2 (add_layer)", found=version)
        frames.append((version, offset))


def _read_bottom(r: BinaryReader, version: int, offset: int, idx: int) -> list[Pending]:
    """The wrapper sitting on the input layer, then the input layer (idx + 1)."""
    inp = _details(r, INPUTS, "input layer", idx + 1)
    if _is_version_string(r.peek_string()):  # add_layer<details, input>
        if version not in (2, 3):
            raise r.error("unknown add_layer version", field=f"layer {idx} wrapper",
                          offset=offset, expected=[2, 3], found=version)
        top = _details(r, LAYERS, "layer", idx)
        _trailer(r, idx, ("x_grad", "cached_output", "grad_final"))
        if version == 3:
            r.read_uint(f"layer {idx} sample_expansion_factor", 4)
    else:  # add_tag_layer<ID, input>
        if version not in (1, 2):
            raise r.error("unknown add_tag_layer version", field=f"layer {idx} wrapper",
                          offset=offset, expected=[1, 2], found=version)
        top = Pending(idx, TAG_OR_SKIP, offset)
        _trailer(r, idx, ("cached_output", "grad_final"), bools=0)
        r.read_bool(f"layer {idx} gradient_input_is_stale")
        if version == 2:
            r.read_uint(f"layer {idx} sample_expansion_factor", 4)
    return [top, inp]


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
    frames, bottom_version, bottom_offset = _read_headers(r, 1)
    bottom = _read_bottom(r, bottom_version, bottom_offset, 1 + len(frames))
    middle: list[Pending] = []
    for i in range(len(frames) - 1, -1, -1):
        version, offset = frames[i]
        idx = 1 + i
        if version == 1:
            middle.append(Pending(idx, TAG_OR_SKIP, offset))
            continue
        middle.append(_details(r, LAYERS, "layer", idx))
        _trailer(r, idx, ("x_grad", "cached_output", "params_grad"))
    records = [loss, *reversed(middle), *bottom]
    if bn_as_affine:
        for rec in records:
            if rec.kind in ("bn_con", "bn_fc"):
                _bn_to_affine(rec)
    inp = records[-1]
    if pyramid_down is not None and "pyramid_down" in inp.attrs:
        inp.attrs["pyramid_down"], inp.attrs["pyramid_down_assumed"] = pyramid_down, False
    wiring = resolve_wiring(records, file)
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
        "bn_as_affine": bn_as_affine,
        "read_seconds": seconds,
    }
    layers = [
        DlibLayer(rec.idx, rec.kind, rec.attrs, rec.params, Source(file=file, offset=rec.offset))
        for rec in records
    ]
    log.debug("%s: %d layers in %.3f s", file, len(layers), seconds)
    return layers, meta
