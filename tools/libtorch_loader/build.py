"""Build tools/libtorch_loader/loader.cpp against the installed torch wheel (cached).

    python tools/libtorch_loader/build.py [BUILD_DIR]   # prints the binary's path

Flags come from the wheel itself: include dirs from
``torch.utils.cpp_extension.include_paths()``, libraries ``-ltorch -ltorch_cpu -lc10`` in
``torch/lib`` (with an rpath, so the binary runs without LD_LIBRARY_PATH), and
``-D_GLIBCXX_USE_CXX11_ABI`` from ``torch.compiled_with_cxx11_abi()``: a mismatch links but
fails at run time on every ``std::string`` crossing the boundary. The binary is cached in
``BUILD_DIR/loader-<key>`` where the key hashes the source, the flags, the torch version and
the compiler's version, and is written atomically (compiled to a temporary name, renamed).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "loader.cpp"
DEFAULT_BUILD_DIR = HERE.parents[1] / "build" / "libtorch_loader"


class BuildUnavailable(RuntimeError):
    """The loader cannot be built here (no compiler, no headers); the message says why."""


class BuildFailed(RuntimeError):
    """The compiler ran and failed: a defect in loader.cpp or these flags, not a missing tool."""


def compiler() -> str:
    found = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if not found:
        raise BuildUnavailable("no C++ compiler: neither $CXX, g++ nor c++ is on PATH")
    return found


def command(cxx: str, output: Path) -> list[str]:
    """The g++ command line that compiles and links ``loader.cpp`` into ``output``."""
    import torch
    from torch.utils.cpp_extension import include_paths

    lib = Path(torch.__file__).resolve().parent / "lib"
    abi = int(torch.compiled_with_cxx11_abi())
    includes = [f"-I{p}" for p in include_paths()]
    return [
        cxx, "-std=c++17", "-O1", f"-D_GLIBCXX_USE_CXX11_ABI={abi}", *includes,
        str(SOURCE), "-o", str(output), f"-L{lib}", f"-Wl,-rpath,{lib}",
        "-ltorch", "-ltorch_cpu", "-lc10",
    ]  # fmt: skip


def cache_key(cxx: str) -> str:
    import torch

    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    digest = hashlib.sha256()
    for part in (SOURCE.read_bytes(), torch.__version__.encode(), version.encode(),
                 " ".join(command(cxx, Path("loader"))).encode()):  # fmt: skip
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:16]


def build(build_dir: Path = DEFAULT_BUILD_DIR) -> tuple[Path, float]:
    """(path of the loader binary, seconds spent compiling: 0.0 when cached)."""
    import torch

    cxx = compiler()
    lib = Path(torch.__file__).resolve().parent / "lib"
    missing = [n for n in ("libtorch.so", "libtorch_cpu.so", "libc10.so") if not (lib / n).exists()]
    if missing:
        raise BuildUnavailable(f"the torch wheel has no {', '.join(missing)} in {lib}")
    header = Path(torch.__file__).resolve().parent / "include" / "torch" / "script.h"
    if not header.exists():
        raise BuildUnavailable(f"the torch wheel has no C++ headers ({header} is absent)")
    target = build_dir / f"loader-{cache_key(cxx)}"
    if target.exists():
        return target, 0.0
    build_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".loader-", dir=build_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    start = time.monotonic()
    try:
        proc = subprocess.run(command(cxx, tmp), capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise BuildFailed(f"{cxx} failed ({proc.returncode}): {proc.stderr[-3000:]}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target, time.monotonic() - start


if __name__ == "__main__":
    path, seconds = build(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_BUILD_DIR)
    print(path)
    print(f"compiled in {seconds:.1f} s" if seconds else "cached", file=sys.stderr)
