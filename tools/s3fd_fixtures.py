"""Write seeded S3FD checkpoints in every real layout, zip and legacy (test fixtures).

No trained S3FD weights may be downloaded, so these stand in for ``s3fd_convert.pth``
(SFD_pytorch) and ``s3fd-619a316812.pth`` (face_alignment): same key names, shapes and
containers, weights drawn so the network behaves like a trained VGG numerically:
He-scaled filters with per-filter norms varied (log-normal), small non-zero biases, the
first conv scaled for mean-subtracted 0..255 input so activations stay O(1), L2Norm
scales near their 10/8/5 initialisation, and conf heads biased towards background so a
photo yields a few hundred candidates above 0.05 and a few detections above 0.5.

Usage: ``python tools/s3fd_fixtures.py [OUT_DIR]`` (default ``build/s3fd_fixtures``). Files
are written atomically; a manifest records seed and file names; re-running with the same
version and seed does nothing.
"""

from __future__ import annotations

import json
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

SEED = 20240611
VERSION = "3"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "build" / "s3fd_fixtures"

#: (name, in, out, kernel) in SFD_pytorch order; heads last
CONVS = [
    ("conv1_1", 3, 64, 3), ("conv1_2", 64, 64, 3), ("conv2_1", 64, 128, 3),
    ("conv2_2", 128, 128, 3), ("conv3_1", 128, 256, 3), ("conv3_2", 256, 256, 3),
    ("conv3_3", 256, 256, 3), ("conv4_1", 256, 512, 3), ("conv4_2", 512, 512, 3),
    ("conv4_3", 512, 512, 3), ("conv5_1", 512, 512, 3), ("conv5_2", 512, 512, 3),
    ("conv5_3", 512, 512, 3), ("fc6", 512, 1024, 3), ("fc7", 1024, 1024, 1),
    ("conv6_1", 1024, 256, 1), ("conv6_2", 256, 512, 3), ("conv7_1", 512, 128, 1),
    ("conv7_2", 128, 256, 3),
]
NORMS = [("conv3_3_norm", 256, 10.0), ("conv4_3_norm", 512, 8.0), ("conv5_3_norm", 512, 5.0)]
HEADS = [("conv3_3_norm", 256), ("conv4_3_norm", 512), ("conv5_3_norm", 512), ("fc7", 1024),
         ("conv6_2", 512), ("conv7_2", 256)]
#: layout name -> how the state dict is stored
LAYOUTS = ("sfd_pytorch", "face_alignment", "dataparallel", "state_dict", "model_state_dict",
           "renamed")
#: the "renamed" layout: an SSD-style naming that needs an explicit key map
RENAMED_PREFIX = "detector.backbone."


def state_dict(seed: int = SEED) -> OrderedDict[str, np.ndarray]:
    """Canonical SFD_pytorch key -> float32 array, deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    out: OrderedDict[str, np.ndarray] = OrderedDict()

    def conv(name: str, cin: int, cout: int, k: int, gain: float, bias_std: float) -> None:
        fan_in = cin * k * k
        w = rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / fan_in) * gain
        w *= rng.lognormal(0.0, 0.25, size=(cout, 1, 1, 1))  # per-filter norms vary
        out[f"{name}.weight"] = w.astype(np.float32)
        out[f"{name}.bias"] = (rng.standard_normal(cout) * bias_std).astype(np.float32)

    for name, cin, cout, k in CONVS:
        # input is BGR minus mean: std ~60; bring conv1_1's output to O(1)
        conv(name, cin, cout, k, 1.0 / 60.0 if name == "conv1_1" else 1.0, 0.02)
    for name, channels, scale in NORMS:
        out[f"{name}.weight"] = (scale * rng.lognormal(0.0, 0.1, channels)).astype(np.float32)
    for i, (prefix, channels) in enumerate(HEADS):
        conf = 4 if i == 0 else 2
        conv(f"{prefix}_mbox_conf", channels, conf, 3, 1.5, 0.05)
        # background logits high, face low: few confident faces, non-degenerate maps
        bias = out[f"{prefix}_mbox_conf.bias"]
        bias[: conf - 1] += 1.5
        bias[conf - 1] -= 1.5
        conv(f"{prefix}_mbox_loc", channels, 4, 3, 0.5, 0.1)
    return out


def _torch_dict(arrays: OrderedDict[str, np.ndarray], prefix: str = "") -> Any:
    import torch

    sd: OrderedDict[str, Any] = OrderedDict(
        (prefix + k, torch.from_numpy(v.copy())) for k, v in arrays.items()
    )
    return sd


def _with_metadata(sd: OrderedDict[str, Any], prefix: str = "") -> OrderedDict[str, Any]:
    """What nn.Module.state_dict() returns: the dict plus a ``_metadata`` attribute."""
    modules = sorted({k.rsplit(".", 1)[0] for k in sd})
    meta = OrderedDict([("", {"version": 1})] + [(m, {"version": 1}) for m in modules])
    sd._metadata = meta  # type: ignore[attr-defined]
    return sd


def layout_object(layout: str, arrays: OrderedDict[str, np.ndarray]) -> Any:
    """The Python object each real-world layout saves."""
    if layout == "sfd_pytorch":  # converted from Caffe: a plain OrderedDict
        return _torch_dict(arrays)
    if layout == "face_alignment":  # model.state_dict() of the s3fd module
        return _with_metadata(_torch_dict(arrays))
    if layout == "dataparallel":
        return _with_metadata(_torch_dict(arrays, "module."))
    if layout == "state_dict":
        return {"epoch": 12, "arch": "s3fd", "state_dict": _with_metadata(_torch_dict(arrays))}
    if layout == "model_state_dict":
        return {"epoch": 3, "loss": 0.125, "model_state_dict": _torch_dict(arrays, "module.")}
    if layout == "renamed":
        return _torch_dict(OrderedDict(
            (RENAMED_PREFIX + k.replace("_", "."), v) for k, v in arrays.items()))
    raise ValueError(f"unknown layout {layout!r}")


def renamed_key_map() -> dict[str, str]:
    """The key map (module prefix -> SFD_pytorch module) that reads the 'renamed' layout."""
    modules = [n for n, *_ in CONVS] + [n for n, *_ in NORMS]
    modules += [f"{p}_mbox_{kind}" for p, _ in HEADS for kind in ("conf", "loc")]
    return {RENAMED_PREFIX + m.replace("_", "."): m for m in modules}


def file_name(layout: str, container: str) -> str:
    return f"s3fd_{layout}_{container}.pth"


def generate(out_dir: Path = DEFAULT_OUT, seed: int = SEED) -> dict[str, Path]:
    """Write every layout x container; return ``{"<layout>_<container>": path}``."""
    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / "manifest.json"
    files = {
        f"{lay}_{c}": out_dir / file_name(lay, c) for lay in LAYOUTS for c in ("zip", "legacy")
    }
    wanted = {"version": VERSION, "seed": seed, "files": sorted(p.name for p in files.values())}
    if manifest_path.is_file() and all(p.is_file() for p in files.values()):
        try:
            if json.loads(manifest_path.read_text()) == wanted:
                return files
        except json.JSONDecodeError:
            pass
    arrays = state_dict(seed)
    np.savez(out_dir / "weights.npz.tmp.npz", **arrays)
    (out_dir / "weights.npz.tmp.npz").replace(out_dir / "weights.npz")
    for key, path in files.items():
        layout, container = key.rsplit("_", 1)
        tmp = path.with_suffix(".tmp")
        torch.save(layout_object(layout, arrays), tmp,
                   _use_new_zipfile_serialization=container == "zip")
        tmp.replace(path)
    (out_dir / "renamed_key_map.json").write_text(json.dumps(renamed_key_map(), indent=1))
    manifest_path.write_text(json.dumps(wanted))
    return files


def load_weights(out_dir: Path = DEFAULT_OUT) -> dict[str, np.ndarray]:
    """The canonical arrays the fixture files hold (written beside them)."""
    with np.load(out_dir / "weights.npz") as data:
        return {k: data[k] for k in data.files}


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    for name, path in generate(target).items():
        sys.stdout.write(f"{name}: {path} ({path.stat().st_size} bytes)\n")
