"""Any other network: tensors in, tensors out, compared tensor by tensor (the catch-all)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from faceport.kinds import ModelKind

if TYPE_CHECKING:
    from faceport.ir import Graph
    from faceport.modelinfo import ModelInfo


def recognise(info: ModelInfo, graph: Graph) -> bool:
    return True


KIND = ModelKind(
    name="network",
    title="plain network",
    families=(),
    recognise=recognise,
    outputs_meaning="",
)
