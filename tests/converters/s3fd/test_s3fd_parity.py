"""All 12 head outputs of the converted S3FD vs the independent reference module."""

from __future__ import annotations

import numpy as np
import pytest

from faceport.tolerance import Tolerance
from faceport.verify.compare import compare_arrays
from faceport.verify.references.s3fd_model import preprocess, reference_forward
from tests.reference import s3fd_session

ABS_1E5 = Tolerance(1e-5, 0.0, relative_to_scale=False)
NAMES = [f"{layout}_{container}" for layout in
         ("sfd_pytorch", "face_alignment", "dataparallel", "state_dict", "model_state_dict",
          "renamed") for container in ("zip", "legacy")]


def _check(outputs: list[np.ndarray], reference: list[np.ndarray], names: list[str]) -> None:
    assert len(outputs) == len(reference) == 12
    results = [compare_arrays(n, r, o, ABS_1E5) for n, r, o in zip(names, reference, outputs)]
    assert all(results), "\n".join(str(r) for r in results)


@pytest.mark.parametrize("index", range(len(s3fd_session.PHOTOS)))
def test_heads_match_reference_on_photos(index: int) -> None:
    run = s3fd_session.forwards(index)
    if run is None:
        pytest.skip(f"shared photo {s3fd_session.PHOTOS[index][0]} absent")
    image, ours, theirs = run
    names = list(s3fd_session.converted(s3fd_session.CANONICAL).outputs)
    _check(ours, theirs, names)
    # the finest level is 1/4 of the image (floor at each of the two pools)
    assert ours[0].shape == (1, 2, image.shape[0] // 4, image.shape[1] // 4)
    # the maps are not degenerate: face probabilities spread over (0, 1) at every level,
    # and some locations are confident faces
    peaks = []
    for conf in ours[0::2]:
        prob = 1.0 / (1.0 + np.exp(conf[0, 0].astype(np.float64) - conf[0, 1]))
        assert float(prob.min()) > 0.0 and float(prob.max()) < 1.0
        assert float(prob.std()) > 1e-3
        peaks.append(float(prob.max()))
    assert max(peaks) > 0.9, peaks


@pytest.mark.parametrize("name", NAMES)
def test_every_layout_matches_reference_on_a_crop(name: str) -> None:
    """Each container/layout's graph, on a small odd-sized crop of a real photo."""
    from faceport.detect.s3fd import S3FDDetector

    image = s3fd_session.photo(*s3fd_session.PHOTOS[0])
    if image is None:
        pytest.skip("shared photo absent")
    crop = np.ascontiguousarray(image[100:197, 300:451])  # 97 x 151: odd sizes at every pool
    ours = S3FDDetector(s3fd_session.converted(name)).forward(crop)
    theirs = reference_forward(s3fd_session.reference(), preprocess(crop))
    _check(ours, theirs, list(s3fd_session.converted(name).outputs))


def test_parity_check_catches_a_dilated_fc6() -> None:
    """Control: the DeepLab-style fc6 (3x3, dilation 3, pad 3) that the released model does
    *not* use gives outputs far outside the 1e-5 bound, so the parity tests can fail."""
    import dataclasses

    from faceport.detect.s3fd import S3FDDetector
    from faceport.ir import normalize_attrs

    graph = s3fd_session.converted(s3fd_session.CANONICAL)
    nodes = tuple(
        dataclasses.replace(n, attrs=normalize_attrs({**n.attrs, "dilation": [3, 3]}))
        if n.name == "fc6" else n for n in graph.nodes
    )
    wrong = dataclasses.replace(graph, nodes=nodes)
    image = s3fd_session.photo(*s3fd_session.PHOTOS[0])
    if image is None:
        pytest.skip("shared photo absent")
    crop = np.ascontiguousarray(image[100:260, 300:540])
    ours = S3FDDetector(wrong).forward(crop)
    theirs = reference_forward(s3fd_session.reference(), preprocess(crop))
    results = [compare_arrays(n, r, o, ABS_1E5) for n, r, o in zip(graph.outputs, theirs, ours)]
    assert all(results[:6])  # conv3_3 .. conv5_3 levels do not see fc6
    assert not any(results[6:])  # fc7, conv6_2, conv7_2 levels all flag the error
