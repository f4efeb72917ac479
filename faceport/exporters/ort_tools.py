"""onnxruntime's mobile tooling on an exported file: usability summary and ORT format.

* :func:`mobile_check` runs ``onnxruntime.tools.check_onnx_model_mobile_usability``'s
  analysis (``usability_checker.analyze_model``: optimise to BASIC, then check NNAPI and
  CoreML partitioning) and keeps its log lines, summarised.
* :func:`convert_to_ort` runs ``onnxruntime.tools.convert_onnx_models_to_ort`` in a scratch
  directory and moves the ``.ort`` file into place atomically. Optimisation style: "fixed"
  (optimised for this machine's CPU EP at level "all": fused x86 kernels such as
  ``FusedConv``) or "runtime" (level "basic" plus recorded runtime optimisations: what
  NNAPI/CoreML builds need). A float16 model defaults to "runtime", and "fixed" is refused
  for it: the CPU EP has no float16 convolution, so "fixed" would store the Cast-to-float32 it
  inserts folded into float32 weights (measured on mnet.25: 1.9 MB .ort, 113 float32
  initializers, vs 1.08 MB and 112 float16 with "runtime").
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from faceport.atomic import atomic_path
from faceport.errors import ExportError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MobileReport:
    """``ep_recommended``: NNAPI/CoreML may help; ``lines``: the checker's messages."""

    path: Path
    ep_recommended: bool
    lines: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> list[str]:
        keys = ("should perform well", "partitions with a total")
        picked = [ln for ln in self.lines if any(k in ln.lower() for k in keys)]
        verdict = (
            "NNAPI/CoreML may help: compare them with the CPU EP"
            if self.ep_recommended
            else "use the CPU EP (NNAPI/CoreML partitions would not pay off)"
        )
        return [verdict, *picked[:12]]

    def __str__(self) -> str:
        return f"mobile check of {self.path.name}:\n  " + "\n  ".join(self.summary())


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage().strip())


def mobile_check(path: str | os.PathLike[str]) -> MobileReport:
    """Analyse ``path`` for ORT Mobile (NNAPI/CoreML usability), collecting the messages."""
    from onnxruntime.tools.mobile_helpers import usability_checker

    checker_log = logging.getLogger("faceport.mobile_check")
    checker_log.propagate = False
    checker_log.setLevel(logging.INFO)
    handler = _Collect()
    checker_log.addHandler(handler)
    try:
        recommended = usability_checker.analyze_model(Path(path), skip_optimize=False,
                                                      logger=checker_log)  # fmt: skip
    except Exception as exc:  # the checker raises whatever onnx/ORT raise
        raise ExportError(f"mobile usability check failed: {exc}", file=str(path)) from exc
    finally:
        checker_log.removeHandler(handler)
    lines = tuple(ln for text in handler.lines for ln in text.splitlines() if ln.strip())
    return MobileReport(Path(path), bool(recommended), lines)


STYLES = ("fixed", "runtime")


def has_float16_weights(path: Path) -> bool:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)


def convert_to_ort(
    path: str | os.PathLike[str], output: str | os.PathLike[str] | None = None, *,
    style: str | None = None,
) -> Path:  # fmt: skip
    """Convert ``path`` to ORT format (``<name>.ort`` beside it unless ``output``) in
    optimisation ``style`` (None: "runtime" for a float16 model, else "fixed")."""
    from onnxruntime.tools.convert_onnx_models_to_ort import (
        OptimizationStyle,
        convert_onnx_models_to_ort,
    )

    source = Path(path)
    half = has_float16_weights(source)
    chosen = style or ("runtime" if half else "fixed")
    if chosen not in STYLES:
        raise ExportError("unknown ORT optimisation style", field="style", expected=list(STYLES),
                          found=style)  # fmt: skip
    if half and chosen == "fixed":
        raise ExportError(
            "the fixed ORT optimisation style would store this float16 model's weights as "
            "float32 (the CPU EP's casts get folded in): use the runtime style",
            file=str(source), field="style", expected="runtime", found=chosen,
        )  # fmt: skip
    optimization = OptimizationStyle.Runtime if chosen == "runtime" else OptimizationStyle.Fixed
    target = Path(output) if output is not None else source.with_suffix(".ort")
    with tempfile.TemporaryDirectory(prefix="faceport-ort-") as tmp_dir:
        scratch = Path(tmp_dir)
        shutil.copyfile(source, scratch / "model.onnx")
        printed = io.StringIO()
        # the tool logs each written config file at INFO on its own logger: debug detail here
        chatty = logging.getLogger("ort_format_model.utils")
        level = chatty.level
        chatty.setLevel(logging.WARNING)
        try:
            with contextlib.redirect_stdout(printed):
                convert_onnx_models_to_ort(
                    scratch / "model.onnx", output_dir=scratch / "out",
                    optimization_styles=[optimization],
                )  # fmt: skip
        except Exception as exc:  # ORT raises RuntimeError/Fail with its own message
            raise ExportError(f"ORT format conversion failed: {exc}", file=str(source)) from exc
        finally:
            chatty.setLevel(level)
        made = sorted((scratch / "out").glob("*.ort"))
        if len(made) != 1:
            raise ExportError("ORT conversion did not produce one .ort file", file=str(source),
                              found=[p.name for p in made])  # fmt: skip
        log.debug("convert_onnx_models_to_ort: %s", printed.getvalue().strip())
        with atomic_path(target, suffix=".ort") as tmp:
            shutil.copyfile(made[0], tmp)
            _check_ort(tmp)
    return target


def _check_ort(path: Path) -> None:
    """An ORT-format file must open in an onnxruntime session."""
    from faceport.ort_session import open_session

    open_session(path, ort_format=True)
