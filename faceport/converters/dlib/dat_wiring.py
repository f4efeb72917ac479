"""Recover tag/skip layers and wiring ids for a dlib network read from a binary .dat.

dlib writes ``add_tag_layer`` and ``add_skip_layer`` identically (an int 1, then the
subnetwork) and never writes tag ids: they are template parameters. ``add_prev_``,
``mult_prev_``, ``resize_prev_to_tagged_``, ``scale_`` and ``scale_prev_`` find their
operand with ``layer<tagN>(sub)``: the *nearest* layer below them (towards the input) that
is a tag with that id; ``add_skip_layer<tagN>`` outputs that layer's output. The rule below
recovers the wiring of dlib's own idioms (the ResNet ``residual`` =
``add_prev1<block<tag1<SUBNET>>>`` and ``residual_down`` =
``add_prev2<avg_pool<skip1<tag2<block<tag1<SUBNET>>>>>>``, squeeze-excitation
``mult_prev``/``scale`` blocks) and refuses anything it cannot decide:

1. **Tag or skip.** A maximal run of consecutive tag-or-skip layers of length 1 is a tag; of
   length 2 it is a skip above a tag (``skipN<tagM<...>>``: two adjacent tags or two adjacent
   skips are redundant, and a tag on a skip's output only renames the tag the skip points
   at). Longer runs are ambiguous.
2. **Targets.** Referrers (the layers above plus skips) are resolved from the input upwards;
   each takes the nearest tag below it that no other referrer has taken, except that a
   skip never takes the tag directly below it (that skip would be a no-op).
3. **Checks.** Every referrer must find a tag and every tag must be taken exactly once;
   ``concat`` (several ids per layer) is never guessed.
4. **Ids.** Tags are numbered from the input upwards with the smallest id >= 1 that no tag
   strictly between a referrer and its target below uses, so ``layer<tagN>`` lookups reach
   the intended tag. For dlib's ResNet idioms this reproduces tag1/tag2/skip1 exactly.

Anything else raises a FormatError naming the layer index and pointing at ``net_to_xml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from faceport.errors import FormatError

TAG_OR_SKIP = "tag_or_skip"
REFERRERS = frozenset(
    {"add_prev", "mult_prev", "multm_prev", "resize_prev_to_tagged", "scale", "scale_prev"}
)
_HINT = "this wiring cannot be recovered from a .dat: convert the net_to_xml XML instead"


@dataclass
class Pending:
    """A layer record before wiring resolution (mutable; becomes a DlibLayer)."""

    idx: int
    kind: str
    offset: int
    attrs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


def _fail(file: str, rec: Pending, message: str) -> FormatError:
    return FormatError(
        message, file=file, offset=rec.offset, field=f"layer {rec.idx} ({rec.kind})", hint=_HINT
    )


def _classify_runs(records: list[Pending], file: str) -> None:
    i = 0
    while i < len(records):
        if records[i].kind != TAG_OR_SKIP:
            i += 1
            continue
        j = i
        while j < len(records) and records[j].kind == TAG_OR_SKIP:
            j += 1
        run = records[i:j]
        if len(run) == 1:
            run[0].kind = "tag"
        elif len(run) == 2:
            run[0].kind, run[1].kind = "skip", "tag"
        else:
            raise _fail(file, run[0], f"{len(run)} consecutive tag/skip layers are ambiguous")
        i = j


def _targets(records: list[Pending], file: str) -> dict[int, int]:
    """referrer idx -> target tag idx (rule 2)."""
    tags = [r.idx for r in records if r.kind == "tag"]
    taken: set[int] = set()
    target: dict[int, int] = {}
    for rec in sorted(records, key=lambda r: -r.idx):
        if rec.kind == "concat":
            raise _fail(file, rec, "concat's tag ids are not stored in the .dat")
        if rec.kind not in REFERRERS and rec.kind != "skip":
            continue
        below = [t for t in tags if t > rec.idx and t not in taken]
        if rec.kind == "skip":
            below = [t for t in below if t != rec.idx + 1]
        if not below:
            raise _fail(file, rec, "no tag layer below this layer for it to refer to")
        target[rec.idx] = min(below)
        taken.add(target[rec.idx])
    for t in tags:
        if t not in taken:
            raise _fail(file, records[t - records[0].idx], "tag layer that nothing refers to")
    return target


def _assign_ids(records: list[Pending], target: dict[int, int]) -> dict[int, int]:
    """tag idx -> id (rule 4)."""
    ids: dict[int, int] = {}
    for t in sorted((r.idx for r in records if r.kind == "tag"), reverse=True):
        forbidden = {ids[u] for ref, u in target.items() if ref < t < u}
        ids[t] = next(n for n in range(1, len(forbidden) + 2) if n not in forbidden)
    return ids


def resolve_wiring(records: list[Pending], file: str) -> dict[str, Any]:
    """Fill tag/skip kinds and ids in place; return a summary for the file-level meta."""
    if not any(r.kind == TAG_OR_SKIP or r.kind in REFERRERS or r.kind == "concat"
               for r in records):
        return {"tags": 0, "skips": 0, "referrers": 0}
    _classify_runs(records, file)
    target = _targets(records, file)
    ids = _assign_ids(records, target)
    by_idx = {r.idx: r for r in records}
    for t, tag_id in ids.items():
        by_idx[t].attrs = {"id": tag_id}
    for ref, t in target.items():
        rec = by_idx[ref]
        if rec.kind == "skip":
            rec.attrs = {"id": ids[t]}
        else:
            rec.attrs["tag"] = ids[t]
    return {
        "tags": len(ids),
        "skips": sum(r.kind == "skip" for r in records),
        "referrers": len(target),
        "rule": "dat_wiring (nearest free tag, skip above tag)",
    }
