"""S3FD's published layer list and the mapping of checkpoint key names onto it.

The layer table is SFD_pytorch's ``net_s3fd.py`` (identical in face_alignment's
``face_alignment/detection/sfd/net_s3fd.py``): VGG16 conv1_1..conv5_3, ``fc6`` as a 3x3
conv with padding 3 (the released model does not use dilation), ``fc7`` 1x1, extra layers
conv6_1/6_2 and conv7_1/7_2 (stride 2), three L2Norm layers and twelve 3x3 heads.

Accepted checkpoint layouts (all normalised to the canonical ``<module>.<weight|bias>``):

* ``sfd_pytorch`` / ``face_alignment``: a bare state dict with those module names;
* ``dataparallel``: the same with a ``module.`` prefix;
* ``state_dict`` / ``model_state_dict``: either of the above wrapped in that key;
* anything else through an explicit ``key_map`` (checkpoint key or module prefix ->
  canonical key or module name).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from faceport.errors import FormatError


@dataclass(frozen=True)
class ConvSpec:
    name: str
    cin: int
    cout: int
    kernel: int
    stride: int
    pad: int


def _c(name: str, cin: int, cout: int, kernel: int = 3, stride: int = 1, pad: int = 1) -> ConvSpec:
    return ConvSpec(name, cin, cout, kernel, stride, pad)


#: trunk convolutions in execution order; each is followed by a ReLU
TRUNK: tuple[ConvSpec, ...] = (
    _c("conv1_1", 3, 64), _c("conv1_2", 64, 64),
    _c("conv2_1", 64, 128), _c("conv2_2", 128, 128),
    _c("conv3_1", 128, 256), _c("conv3_2", 256, 256), _c("conv3_3", 256, 256),
    _c("conv4_1", 256, 512), _c("conv4_2", 512, 512), _c("conv4_3", 512, 512),
    _c("conv5_1", 512, 512), _c("conv5_2", 512, 512), _c("conv5_3", 512, 512),
    _c("fc6", 512, 1024, 3, 1, 3), _c("fc7", 1024, 1024, 1, 1, 0),
    _c("conv6_1", 1024, 256, 1, 1, 0), _c("conv6_2", 256, 512, 3, 2, 1),
    _c("conv7_1", 512, 128, 1, 1, 0), _c("conv7_2", 128, 256, 3, 2, 1),
)
#: 2x2/2 max pools (floor) follow these convs' ReLUs
POOL_AFTER = ("conv1_2", "conv2_2", "conv3_3", "conv4_3", "conv5_3")
#: L2Norm layers: name, channels, initial scale (their learned weights come from the file)
NORMS: tuple[tuple[str, str, int, float], ...] = (
    ("conv3_3_norm", "conv3_3", 256, 10.0),
    ("conv4_3_norm", "conv4_3", 512, 8.0),
    ("conv5_3_norm", "conv5_3", 512, 5.0),
)
#: detection levels: feature source (a conv whose ReLU or L2Norm feeds the heads), stride
LEVELS: tuple[tuple[str, str, int, int], ...] = (
    # head prefix, feature tensor, channels, stride
    ("conv3_3_norm", "conv3_3_norm", 256, 4),
    ("conv4_3_norm", "conv4_3_norm", 512, 8),
    ("conv5_3_norm", "conv5_3_norm", 512, 16),
    ("fc7", "relu7", 1024, 32),
    ("conv6_2", "relu6_2", 512, 64),
    ("conv7_2", "relu7_2", 256, 128),
)
#: the first level's conf head has 3 background channels + 1 face (max-out background)
MAXOUT_BACKGROUND = 3
BACKBONE = tuple(spec.name for spec in TRUNK)


def heads() -> tuple[ConvSpec, ...]:
    specs = []
    for i, (prefix, _, channels, _) in enumerate(LEVELS):
        conf = MAXOUT_BACKGROUND + 1 if i == 0 else 2
        specs.append(_c(f"{prefix}_mbox_conf", channels, conf))
        specs.append(_c(f"{prefix}_mbox_loc", channels, 4))
    return tuple(specs)


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """Canonical key -> shape for every parameter of the released S3FD."""
    shapes: dict[str, tuple[int, ...]] = {}
    for spec in (*TRUNK, *heads()):
        shapes[f"{spec.name}.weight"] = (spec.cout, spec.cin, spec.kernel, spec.kernel)
        shapes[f"{spec.name}.bias"] = (spec.cout,)
    for name, _, channels, _ in NORMS:
        shapes[f"{name}.weight"] = (channels,)
    return shapes


@dataclass(frozen=True)
class MappedStateDict:
    """Canonical key -> array, plus where each came from and the layout that was recognised."""

    params: dict[str, np.ndarray]
    source_keys: dict[str, str]
    layout: str


WRAPPERS = ("state_dict", "model_state_dict")
PREFIX = "module."


def unwrap(obj: Any, file: str) -> tuple[dict[str, Any], str]:
    """Find the state dict in a checkpoint object; return it and the wrapper's name."""
    if not isinstance(obj, dict):
        raise FormatError("checkpoint is not a dict", file=file, found=type(obj).__name__)
    for wrapper in WRAPPERS:
        inner = obj.get(wrapper)
        if isinstance(inner, dict) and not _is_state_dict(obj):
            return inner, wrapper
    return obj, "bare"


def _is_state_dict(obj: dict[Any, Any]) -> bool:
    return bool(obj) and all(isinstance(v, np.ndarray) for v in obj.values())


def map_state_dict(
    obj: Any, *, file: str, key_map: Mapping[str, str] | None = None, strict: bool = True
) -> MappedStateDict:
    """Normalise a checkpoint object to canonical S3FD keys, checking names and shapes.

    ``key_map`` maps checkpoint names to canonical ones, either whole keys
    (``"backbone.0.weight": "conv1_1.weight"``) or module prefixes (``"backbone.0":
    "conv1_1"``); it is applied after the wrapper and ``module.`` prefix are removed.
    Missing canonical keys, (with ``strict``) unused checkpoint keys and wrong shapes raise
    a :class:`FormatError` that lists them by name.
    """
    state, wrapper = unwrap(obj, file)
    bad = sorted(str(k) for k, v in state.items() if not isinstance(k, str))
    if bad:
        raise FormatError("state dict has non-string keys", file=file, found=bad[:8])
    keys = list(state)
    prefix = PREFIX if keys and all(k.startswith(PREFIX) for k in keys) else ""
    expected = expected_shapes()
    params: dict[str, np.ndarray] = {}
    sources: dict[str, str] = {}
    unexpected: list[str] = []
    for key in keys:
        canonical = _apply_map(key[len(prefix):], key_map or {})
        value = state[key]
        if canonical not in expected or not isinstance(value, np.ndarray):
            unexpected.append(key)
            continue
        if canonical in params:
            raise FormatError(f"two checkpoint keys map to {canonical!r}", file=file,
                              found=[sources[canonical], key])
        params[canonical] = value
        sources[canonical] = key
    missing = [k for k in expected if k not in params]
    if missing or (strict and unexpected):
        # the names go in the message itself: FaceportError shortens expected/found
        error = FormatError(
            f"checkpoint keys do not match S3FD: {len(missing)} missing "
            f"[{', '.join(missing) or '-'}], {len(unexpected)} unexpected "
            f"[{', '.join(unexpected) or '-'}]", file=file, field="state_dict keys",
            hint="pass key_map={checkpoint_name: canonical_name} for other namings",
        )
        error.missing = missing  # type: ignore[attr-defined]
        error.unexpected = unexpected  # type: ignore[attr-defined]
        raise error
    for key, shape in expected.items():
        if params[key].shape != shape:
            raise FormatError("parameter has the wrong shape", file=file,
                              field=sources[key], expected=shape, found=params[key].shape)
        if params[key].dtype.kind != "f":
            raise FormatError("parameter is not floating point", file=file,
                              field=sources[key], found=str(params[key].dtype))
    layout = ("dataparallel" if prefix else "sfd_pytorch") if wrapper == "bare" else wrapper
    if key_map:
        layout = "key_map"
    params = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in params.items()}
    return MappedStateDict(params, sources, layout)


def _apply_map(key: str, key_map: Mapping[str, str]) -> str:
    if key in key_map:
        return key_map[key]
    module, _, leaf = key.rpartition(".")
    if module in key_map:
        return f"{key_map[module]}.{leaf}"
    return key
