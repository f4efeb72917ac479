"""The fine-tune helper names every key correctly on a modified network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from faceport.converters.s3fd.finetune import load_pretrained
from faceport.converters.s3fd.layout import BACKBONE, expected_shapes
from faceport.verify.references.s3fd_model import RefS3FD


class Modified(RefS3FD):
    """S3FD with: a 3-class conv7_2 conf head (shape change), a new classifier on conv7_2,
    the conv3_3 level's heads removed, and conv1_1 renamed ``stem``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv7_2_mbox_conf = nn.Conv2d(256, 3, 3, padding=1)
        self.classifier = nn.Linear(256, 5)
        del self.conv3_3_norm_mbox_conf, self.conv3_3_norm_mbox_loc
        self.stem = self.conv1_1
        del self.conv1_1


@pytest.fixture(scope="module")
def report_and_model(s3fd_files: dict[str, Path]) -> tuple[object, Modified]:
    torch.manual_seed(0)
    model = Modified()
    report = load_pretrained(model, s3fd_files["dataparallel_legacy"], freeze_backbone=True,
                             key_map={"conv1_1": "stem"})
    return report, model


def test_report_names_every_key(report_and_model: tuple[object, Modified]) -> None:
    report, _ = report_and_model
    pretrained = set(expected_shapes())
    assert set(report.unexpected) == {
        "conv3_3_norm_mbox_conf.weight", "conv3_3_norm_mbox_conf.bias",
        "conv3_3_norm_mbox_loc.weight", "conv3_3_norm_mbox_loc.bias",
    }
    assert report.shape_mismatched == (
        ("conv7_2_mbox_conf.weight", (3, 256, 3, 3), (2, 256, 3, 3)),
        ("conv7_2_mbox_conf.bias", (3,), (2,)),
    )
    assert set(report.missing) == {"classifier.weight", "classifier.bias"}
    renamed = {"stem.weight" if k == "conv1_1.weight" else "stem.bias" if k == "conv1_1.bias"
               else k for k in pretrained}
    assert set(report.matched) == renamed - set(report.unexpected) - {
        "conv7_2_mbox_conf.weight", "conv7_2_mbox_conf.bias"}
    assert len(report.matched) == 65 - 4 - 2
    text = str(report)
    for key in (*report.unexpected, *report.missing, "conv7_2_mbox_conf.weight"):
        assert key in text
    assert "59 matched, 2 missing, 4 unexpected, 2 shape-mismatched" in text


def test_weights_copied_and_backbone_frozen(
    report_and_model: tuple[object, Modified], s3fd_weights: dict[str, np.ndarray]
) -> None:
    report, model = report_and_model
    np.testing.assert_array_equal(model.stem.weight.detach().numpy(),
                                  s3fd_weights["conv1_1.weight"])
    np.testing.assert_array_equal(model.conv5_3_norm.weight.detach().numpy(),
                                  s3fd_weights["conv5_3_norm.weight"])
    assert model.conv7_2_mbox_conf.weight.shape == (3, 256, 3, 3)  # left as initialised
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    assert frozen == set(report.frozen)
    assert len(frozen) == 2 * len(BACKBONE)
    assert model.fc7_mbox_loc.weight.requires_grad and model.classifier.weight.requires_grad


def test_without_freezing_everything_trains(s3fd_weights: dict[str, np.ndarray]) -> None:
    model = RefS3FD()
    report = load_pretrained(model, s3fd_weights)
    assert len(report.matched) == 65 and not report.missing and not report.unexpected
    assert all(p.requires_grad for p in model.parameters()) and not report.frozen
