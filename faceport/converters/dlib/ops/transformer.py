"""dlib 20's sequence layers: tril, positional_encodings, embeddings.

They treat each (n, k) plane as a sequence: rows (nr) are positions, columns (nc) features.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from faceport.converters.dlib.ops._common import float_attr, int_attr, param
from faceport.registry import register

if TYPE_CHECKING:
    from faceport.ir import Node
    from faceport.registry import LowerContext


class DlibTril(nn.Module):
    def __init__(self, diag: int, diag_value: float) -> None:
        super().__init__()
        self.diag = diag
        self.diag_value = diag_value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = torch.arange(x.shape[2], device=x.device).reshape(-1, 1)
        cols = torch.arange(x.shape[3], device=x.device).reshape(1, -1)
        keep = (cols - rows) <= self.diag
        y = x * keep.to(x.dtype)  # dlib multiplies by a 0/1 mask, then adds the fill value
        if self.diag_value != 0.0:
            y = torch.where(keep, y, y + self.diag_value)
        return y


@register("dlib", "tril")
def dlib_tril(node: Node, ctx: LowerContext) -> nn.Module:
    """tril: per plane keep x[r, c] for c <= r + diag, elsewhere x*0 + diag_value (diag_value
    may be -inf for attention masks)."""
    return DlibTril(int_attr(node, "diag", 0), float_attr(node, "diag_value", 0.0))


class DlibPositionalEncodings(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nr, nc = x.shape[2], x.shape[3]
        rows = torch.arange(nr, device=x.device, dtype=torch.float32).reshape(-1, 1)
        cols = torch.arange(nc, device=x.device, dtype=torch.float32).reshape(1, -1)
        theta = rows / torch.pow(torch.tensor(10000.0, device=x.device), cols / nc)
        even = (torch.arange(nc, device=x.device) % 2 == 0).reshape(1, -1)
        pe = torch.where(even, torch.sin(theta), torch.cos(theta))
        return x + pe.to(x.dtype)


@register("dlib", "positional_encodings")
def dlib_positional_encodings(node: Node, ctx: LowerContext) -> nn.Module:
    """positional_encodings: x + pe, pe[r, c] = sin(r / 10000^(c/nc)) for even c, cos(...)
    for odd c, the same for every (n, k) plane."""
    return DlibPositionalEncodings()


class DlibEmbeddings(nn.Module):
    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table = nn.Parameter(table)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x[..., 0].to(torch.int64)  # static_cast<unsigned long>(float): truncation
        valid = (tokens >= 0) & (tokens < self.table.shape[0])
        rows = self.table[torch.where(valid, tokens, torch.zeros_like(tokens))]
        return rows * valid.unsqueeze(-1).to(rows.dtype)


@register("dlib", "embeddings")
def dlib_embeddings(node: Node, ctx: LowerContext) -> nn.Module:
    """embeddings: out[n,k,r,:] = table[int(x[n,k,r,0])], zeros for an index outside
    [0, num_embeddings); params embeddings: (num_embeddings, embedding_dim)."""
    num = int_attr(node, "num_embeddings", minimum=1)
    dim = int_attr(node, "embedding_dim", minimum=1)
    return DlibEmbeddings(param(node, ctx, "embeddings", (num, dim)))
