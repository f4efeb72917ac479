"""Session fixtures for the exporter tests: each model is exported once per session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.exporters.export_cases import DETECTOR_SIZE, graph_for


@pytest.fixture(scope="session")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("exports")


@pytest.fixture(scope="session")
def raw_onnx(export_dir: Path) -> Any:
    """``raw_onnx(name, fp16=False)`` -> (path, OnnxExport), exported once per session."""
    from faceport.exporters.onnx import export_onnx

    made: dict[tuple[str, bool], Any] = {}

    def get(name: str, fp16: bool = False) -> Any:
        if (name, fp16) not in made:
            path = export_dir / f"{name}{'_fp16' if fp16 else ''}.onnx"
            made[(name, fp16)] = (path, export_onnx(graph_for(name), path, fp16=fp16))
        return made[(name, fp16)]

    return get


@pytest.fixture(scope="session")
def detector_onnx(export_dir: Path) -> Any:
    """``detector_onnx(name, fp16=False)`` -> (path, OnnxExport) of the whole detector."""
    from faceport.exporters.detector import export_detector

    made: dict[tuple[str, bool], Any] = {}

    def get(name: str, fp16: bool = False) -> Any:
        if (name, fp16) not in made:
            path = export_dir / f"{name}_det{'_fp16' if fp16 else ''}.onnx"
            size = DETECTOR_SIZE.get(name)
            made[(name, fp16)] = (
                path, export_detector(graph_for(name), path, fp16=fp16, size=size)
            )
        return made[(name, fp16)]

    return get
