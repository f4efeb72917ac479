"""Walk the wrapper chain of a dlib DNN ``.dat`` (``dlib/dnn/core.h``), ``repeat<>`` included.

Each wrapper writes its version *before* its subnetwork and its layer details *after* it::

    add_layer:       int 2 (int 1 before 2017), subnetwork, details, 3 bools,
                     x_grad, cached_output (tensors), params_grad (version 2 only)
    add_tag_layer / add_skip_layer:  int 1, subnetwork (indistinguishable in the file)
    repeat<N, BLOCK, SUBNET>:  int 1, the N block networks as a std::vector (unsigned long
                     N, then each block, top block first), then SUBNET
    add_layer over the input layer:  int 3 (or 2), input layer, details, 3 bools,
                     x_grad, cached_output, grad_final, sample_expansion_factor (v3)
    add_tag_layer over the input layer:  int 2 (or 1), input layer, cached_output,
                     grad_final, bool, sample_expansion_factor (v2)

A repeat block is ``BLOCK<repeat_input_layer>``: a complete chain whose input layer writes
nothing, so its bottom wrapper is followed directly by layer details (add_layer) or by a
tensor (add_tag_layer). dlib numbers a repeat's layers block after block (``layer<i>`` of
the repeat is layer ``i % g`` of block ``i / g``, g layers per block), which is the order in
which the blocks are unrolled here into plain records; ``net_to_xml`` numbers them the same.

The chain is read with loops (wrapper versions going down, details coming back up); only
repeat nesting recurses, bounded by :data:`MAX_REPEAT_DEPTH`. ``int 1`` is either a tag/skip
or a repeat: a repeat is recognised by parsing its first block, which must end on a
repeat-input bottom; failed attempts are remembered by offset so a file is never re-walked
from the same place twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from faceport.converters.dlib.binary import BinaryReader
from faceport.converters.dlib.dat_layers import ASSUMED_ATTR, PRIVATE_ATTR_PREFIX, LayerFn
from faceport.converters.dlib.dat_wiring import TAG_OR_SKIP, Pending
from faceport.errors import FormatError

MAX_REPEAT_DEPTH = 4
MAX_REPEAT_COUNT = 1 << 16


def is_version_string(name: str | None) -> bool:
    """Whether a peeked string is a version string rather than the bytes of a small int
    or a tensor header (those read as strings of at most 2 unprintable bytes)."""
    return name is not None and len(name) >= 4


def read_details(r: BinaryReader, table: dict[str, LayerFn], what: str, idx: int) -> Pending:
    """Read one version string and dispatch to its deserializer, adding layer context."""
    offset = r.pos
    version = r.read_string(f"layer {idx} {what} version string", 64)
    parse = table.get(version)
    if parse is None:
        raise r.error(
            f"unknown dlib {what} version string", field=f"layer {idx} {what}", offset=offset,
            found=version, hint=f"expected one of: {', '.join(sorted(table))}",
        )
    try:
        kind, attrs, params = parse(r, version)
    except FormatError as exc:
        raise FormatError(
            exc.message, file=exc.file, offset=exc.offset,
            field=f"layer {idx} ({version}) {exc.field}", expected=exc.expected,
            found=exc.found, hint=exc.hint,
        ) from None
    attrs = {k: v for k, v in attrs.items()
             if k == ASSUMED_ATTR or not k.startswith(PRIVATE_ATTR_PREFIX)}
    return Pending(idx, kind, offset, attrs, params)


def skip_trailer(r: BinaryReader, idx: int, tensors: tuple[str, ...], bools: int = 3) -> None:
    """Skip a wrapper's training state (flags and gradient/output tensors) after details."""
    for i in range(bools):
        r.read_bool(f"layer {idx} state flag {i}")
    for name in tensors:
        r.read_tensor(f"layer {idx} {name}", keep=False)


@dataclass
class _Frame:
    """One wrapper above the bottom: add_layer (version 2/1), tag/skip, or an unrolled repeat."""

    kind: str  # "layer" | "tag" | "repeat"
    idx: int
    offset: int
    records: list[Pending] = field(default_factory=list)  # a repeat's unrolled blocks
    below_layer: bool = False  # this frame or one above it in the block is an add_layer

    @property
    def size(self) -> int:
        return len(self.records) if self.kind == "repeat" else 1


class ChainReader:
    """Reads a chain of wrappers into records; ``layers``/``inputs`` are version tables."""

    def __init__(
        self, r: BinaryReader, layers: dict[str, LayerFn], inputs: dict[str, LayerFn]
    ) -> None:
        self.r = r
        self.layers = layers
        self.inputs = inputs
        self.not_repeat: set[int] = set()  # offsets where a repeat attempt failed
        #: (offset, depth) from which a repeat block cannot be read (see :meth:`read`)
        self.no_block: set[tuple[int, int]] = set()
        self.repeats = 0

    def read(self, first_idx: int, depth: int = 0) -> list[Pending]:
        """The chain from ``r.pos``: records top (first_idx) to bottom. ``depth`` > 0 reads a
        repeat block, whose bottom sits on dlib's repeat_input_layer.

        A failed block read is remembered at every wrapper offset it passed while no
        add_layer was above it in the block: a block read started there at the same depth
        takes the same steps (they depend on offset, depth and whether a layer is above) and
        fails the same way, so it is refused at once. Without this a run of ``int 1``
        wrappers (each a possible repeat) was re-walked from every offset: quadratic."""
        start = self.r.pos
        if depth and (start, depth) in self.no_block:
            raise self.r.error("no repeat block here (an earlier attempt failed)",
                               field="repeat", offset=start)  # fmt: skip
        passed: list[int] = []
        try:
            return self._read(first_idx, depth, passed)
        except FormatError:
            if depth:
                self.no_block.update((offset, depth) for offset in passed)
            raise

    def _read(self, first_idx: int, depth: int, passed: list[int]) -> list[Pending]:
        r, idx = self.r, first_idx
        frames: list[_Frame] = []
        while True:
            offset = r.pos
            if not (frames and frames[-1].below_layer):
                passed.append(offset)
            version = r.read_int(f"layer {idx} wrapper version", 4)
            if is_version_string(r.peek_string()):
                bottom = self._bottom(version, offset, idx, depth)
                break
            if depth and version in (1, 2) and self._tag_on_repeat_input(version, frames):
                bottom = [Pending(idx, TAG_OR_SKIP, offset)]
                break
            if version == 1:
                block = self._try_repeat(idx, depth)
                if block is not None:
                    below = bool(frames and frames[-1].below_layer)
                    frames.append(_Frame("repeat", idx, offset, block, below_layer=below))
                    idx += len(block)
                    continue
            if version not in (1, 2):
                raise r.error("unknown layer wrapper version", field=f"layer {idx} wrapper",
                              offset=offset, expected="1 (tag/skip/repeat) or 2 (add_layer)",
                              found=version)
            below = version == 2 or bool(frames and frames[-1].below_layer)
            frames.append(_Frame("layer" if version == 2 else "tag", idx, offset,
                                 below_layer=below))  # fmt: skip
            idx += 1
        middle: list[Pending] = []
        for frame in reversed(frames):
            if frame.kind == "repeat":
                middle.extend(reversed(frame.records))
            elif frame.kind == "tag":
                middle.append(Pending(frame.idx, TAG_OR_SKIP, frame.offset))
            else:
                middle.append(read_details(r, self.layers, "layer", frame.idx))
                skip_trailer(r, frame.idx, ("x_grad", "cached_output", "params_grad"))
        return [*reversed(middle), *bottom]

    def _bottom(self, version: int, offset: int, idx: int, depth: int) -> list[Pending]:
        """The wrapper on the input layer (or on a repeat block's repeat_input_layer)."""
        r = self.r
        name = r.peek_string()
        inp: list[Pending] = []
        if depth and name in self.inputs:
            raise r.error("an input layer inside a repeat<> block", field=f"layer {idx}",
                          offset=offset, found=name)
        if not depth:
            if name in self.layers:
                raise r.error("layer details where the input layer belongs",
                              field=f"layer {idx}", offset=offset, found=name,
                              hint="only a repeat<> block's bottom layer has no input layer")
            inp = [read_details(r, self.inputs, "input layer", idx + 1)]
            if not is_version_string(r.peek_string()):  # add_tag_layer<ID, input>
                return [self._tag_on_input(version, offset, idx), *inp]
        if version not in (2, 3):
            raise r.error("unknown add_layer version", field=f"layer {idx} wrapper",
                          offset=offset, expected=[2, 3], found=version)
        top = read_details(r, self.layers, "layer", idx)
        skip_trailer(r, idx, ("x_grad", "cached_output", "grad_final"))
        if version == 3:
            r.read_uint(f"layer {idx} sample_expansion_factor", 4)
        return [top, *inp]

    def _tag_on_input(self, version: int, offset: int, idx: int) -> Pending:
        r = self.r
        if version not in (1, 2):
            raise r.error("unknown add_tag_layer version", field=f"layer {idx} wrapper",
                          offset=offset, expected=[1, 2], found=version)
        skip_trailer(r, idx, ("cached_output", "grad_final"), bools=0)
        r.read_bool(f"layer {idx} gradient_input_is_stale")
        if version == 2:
            r.read_uint(f"layer {idx} sample_expansion_factor", 4)
        return Pending(idx, TAG_OR_SKIP, offset)

    def _tag_on_repeat_input(self, version: int, frames: list[_Frame]) -> bool:
        """Try an add_tag_layer on repeat_input_layer (two tensors, bool, [uint]); keep it
        when the bytes after it are what must follow: the details of the nearest add_layer
        above in this block (tags above write nothing)."""
        r, start = self.r, self.r.pos
        try:
            self._tag_on_input(version, start, -1)
            if frames and frames[-1].below_layer and r.peek_string() not in self.layers:
                raise r.error("not a tag on the repeat input", field="probe")
        except FormatError:
            r.pos = start
            return False
        return True

    def _try_repeat(self, idx: int, depth: int) -> list[Pending] | None:
        """After an ``int 1``: a repeat's blocks, unrolled, or None (position restored)."""
        r, start = self.r, self.r.pos
        if depth >= MAX_REPEAT_DEPTH or start in self.not_repeat:
            return None
        try:
            count = r.read_uint("repeat count")
            if not 1 <= count <= MAX_REPEAT_COUNT:
                raise r.error("implausible repeat count", field="repeat")
            first = self.read(idx, depth + 1)
        except FormatError:
            self.not_repeat.add(start)
            r.pos = start
            return None
        records, size = list(first), len(first)
        for i in range(1, count):
            block = self.read(idx + i * size, depth + 1)
            kinds = [rec.kind for rec in block]
            if kinds != [rec.kind for rec in first]:
                raise r.error(f"repeat block {i} differs from block 0", field=f"layer {idx}",
                              expected=[rec.kind for rec in first], found=kinds)
            records.extend(block)
        self.repeats += 1
        return records
