"""An R50-style RetinaFace symbol built with MXNet's symbol API (runs in .venv-mxnet).

The structure follows insightface's RetinaFace-R50 (``rcnn/symbol/symbol_resnet.py`` on top
of MXNet's pre-activation ResNet): ``bn_data`` (BatchNorm, fix_gamma=True) -> ``conv0`` 7x7/2
-> ``bn0`` -> ``relu0`` -> ``pooling0`` max 3x3/2; bottleneck units (bn1 relu1 conv1 1x1, bn2
relu2 conv2 3x3, bn3 relu3 conv3 1x1, ``_sc`` 1x1 projection when the shape changes, add);
final ``bn1``/``relu1``. Taps at strides 8/16/32 feed an FPN (1x1 laterals, nearest
UpSampling x2, Crop to the finer map, add, 3x3 aggregation), then SSH context modules (3x3;
5x5 as two 3x3; 7x7 as three 3x3; Concat; ReLU), then per-stride heads named as insightface
names them. Widths and depth are reduced (units per stage ``UNITS``) to keep it fast; the
layer types, attributes and wiring are the real ones.
"""

from __future__ import annotations

from typing import Any

import mxnet as mx

UNITS = (2, 2, 2, 2)
WIDTHS = (32, 64, 96, 128)  # bottleneck output channels per stage
STEM = 16
FPN = 32  # channels of FPN / SSH features
# insightface's real R50 widths (ResNet-50: 3/4/6/3 units, 256..2048 channels, 64-channel
# stem, 256-channel FPN): the benchmark's full-size network
FULL = {"units": (3, 4, 6, 3), "widths": (256, 512, 1024, 2048), "stem": 64, "fpn": 256}
ANCHORS = 2  # per location (scales (32,16) / (8,4) / (2,1), ratio 1)
BN_EPS = 2e-5


def _conv(data: Any, name: str, num_filter: int, kernel: int, stride: int = 1,
          pad: int | None = None, no_bias: bool = True) -> Any:
    p = kernel // 2 if pad is None else pad
    return mx.sym.Convolution(data=data, name=name, num_filter=num_filter,
                              kernel=(kernel, kernel), stride=(stride, stride), pad=(p, p),
                              no_bias=no_bias, workspace=256)


def _bn(data: Any, name: str, fix_gamma: bool = False) -> Any:
    return mx.sym.BatchNorm(data=data, name=name, fix_gamma=fix_gamma, eps=BN_EPS, momentum=0.9)


def _relu(data: Any, name: str) -> Any:
    return mx.sym.Activation(data=data, name=name, act_type="relu")


def _unit(data: Any, num_filter: int, stride: int, dim_match: bool, name: str) -> tuple[Any, Any]:
    """(unit output, its relu1: the activated input that insightface taps)."""
    bn1 = _bn(data, f"{name}_bn1")
    act1 = _relu(bn1, f"{name}_relu1")
    conv1 = _conv(act1, f"{name}_conv1", num_filter // 4, 1, pad=0)
    act2 = _relu(_bn(conv1, f"{name}_bn2"), f"{name}_relu2")
    conv2 = _conv(act2, f"{name}_conv2", num_filter // 4, 3, stride)
    act3 = _relu(_bn(conv2, f"{name}_bn3"), f"{name}_relu3")
    conv3 = _conv(act3, f"{name}_conv3", num_filter, 1, pad=0)
    shortcut = data if dim_match else _conv(act1, f"{name}_sc", num_filter, 1, stride, pad=0)
    return conv3 + shortcut, act1


def _backbone(data: Any, units_per_stage: tuple[int, ...], widths: tuple[int, ...],
              stem: int) -> dict[int, Any]:
    """Features at strides 8, 16, 32 (insightface taps stage3_unit1_relu1, stage4_unit1_relu1,
    relu1: the pre-activated inputs of the next stage)."""
    body = _bn(data, "bn_data", fix_gamma=True)
    body = _relu(_bn(_conv(body, "conv0", stem, 7, 2, 3), "bn0"), "relu0")
    body = mx.sym.Pooling(data=body, name="pooling0", kernel=(3, 3), stride=(2, 2), pad=(1, 1),
                          pool_type="max")
    taps: dict[int, Any] = {}
    for stage, (units, width) in enumerate(zip(units_per_stage, widths), start=1):
        for unit in range(1, units + 1):
            stride = 1 if stage == 1 or unit > 1 else 2
            name = f"stage{stage}_unit{unit}"
            body, act1 = _unit(body, width, stride, unit > 1, name)
            if unit == 1 and stage in (3, 4):
                taps[{3: 8, 4: 16}[stage]] = act1
    taps[32] = _relu(_bn(body, "bn1"), "relu1")
    return taps


def _conv_act(data: Any, name: str, num_filter: int, kernel: int) -> Any:
    conv = _conv(data, name, num_filter, kernel, no_bias=False)
    return _relu(conv, f"{name}_relu")


def _ssh(data: Any, name: str, fpn: int) -> Any:
    """SSH detection module: 3x3 (half), 5x5 and 7x7 receptive fields (quarter each)."""
    conv3 = _conv(data, f"{name}_conv1", fpn // 2, 3, no_bias=False)
    ctx = _conv_act(data, f"{name}_context_conv1", fpn // 4, 3)
    conv5 = _conv(ctx, f"{name}_context_conv2", fpn // 4, 3, no_bias=False)
    ctx7 = _conv_act(ctx, f"{name}_context_conv3_1", fpn // 4, 3)
    conv7 = _conv(ctx7, f"{name}_context_conv3_2", fpn // 4, 3, no_bias=False)
    cat = mx.sym.Concat(conv3, conv5, conv7, dim=1, name=f"{name}_concat")
    return _relu(cat, f"{name}_concat_relu")


def _head(data: Any, stride: int) -> list[Any]:
    s = f"stride{stride}"
    score = _conv(data, f"face_rpn_cls_score_{s}", 2 * ANCHORS, 1, pad=0, no_bias=False)
    score = mx.sym.Reshape(data=score, shape=(0, 2, -1, 0), name=f"face_rpn_cls_score_reshape_{s}")
    prob = mx.sym.SoftmaxActivation(data=score, mode="channel", name=f"face_rpn_cls_prob_{s}")
    prob = mx.sym.Reshape(data=prob, shape=(0, 2 * ANCHORS, -1, 0),
                          name=f"face_rpn_cls_prob_reshape_{s}")
    bbox = _conv(data, f"face_rpn_bbox_pred_{s}", 4 * ANCHORS, 1, pad=0, no_bias=False)
    landmark = _conv(data, f"face_rpn_landmark_pred_{s}", 10 * ANCHORS, 1, pad=0, no_bias=False)
    return [prob, bbox, landmark]


def retinaface_r50(units: tuple[int, ...] = UNITS, widths: tuple[int, ...] = WIDTHS,
                   stem: int = STEM, fpn: int = FPN) -> Any:
    """The grouped symbol with 9 outputs (cls, bbox, landmark for strides 32, 16, 8);
    ``retinaface_r50(**FULL)`` is the full-size network."""
    data = mx.sym.Variable("data")
    taps = _backbone(data, units, widths, stem)
    lateral = {s: _conv_act(taps[s], f"ssh_c{s // 4}_lateral", fpn, 1) for s in (8, 16, 32)}
    c5 = lateral[32]
    up5 = mx.sym.UpSampling(c5, scale=2, sample_type="nearest", num_args=1, name="ssh_c5_up")
    up5 = mx.sym.Crop(up5, lateral[16], num_args=2, name="crop0")
    c4 = _conv_act(lateral[16] + up5, "ssh_c4_aggr", fpn, 3)
    up4 = mx.sym.UpSampling(c4, scale=2, sample_type="nearest", num_args=1, name="ssh_c4_up")
    up4 = mx.sym.Crop(up4, lateral[8], num_args=2, name="crop1")
    c3 = _conv_act(lateral[8] + up4, "ssh_c3_aggr", fpn, 3)
    features = {32: c5, 16: c4, 8: c3}
    outputs = []
    for stride, module in ((32, "ssh_m3_det"), (16, "ssh_m2_det"), (8, "ssh_m1_det")):
        outputs += _head(_ssh(features[stride], module, fpn), stride)
    return mx.sym.Group(outputs)
