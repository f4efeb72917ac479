"""The dependency rules of docs/architecture.md, checked on the real import graph.

Each check runs in a fresh interpreter (``sys.modules`` of this test process already holds
everything), imports every module of the lower layers one by one and names the first module
that pulled in a forbidden one.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "faceport"

_PROBE = r"""
import importlib, json, pkgutil, sys
import faceport
layers, forbidden = json.loads(sys.argv[1]), tuple(json.loads(sys.argv[2]))
found = {}
for layer in layers:
    package = importlib.import_module(layer)
    names = [layer] + sorted(m.name for m in pkgutil.walk_packages(package.__path__, layer + "."))
    for name in names:
        importlib.import_module(name)
        bad = sorted(m for m in sys.modules if m.startswith(forbidden))
        if bad:
            found[name] = bad
            break
print(json.dumps(found))
"""


def _probe(layers: list[str], forbidden: list[str]) -> dict[str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(layers), json.dumps(forbidden)],
        capture_output=True, text=True, cwd=REPO, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_readers_detectors_exporters_import_no_verify_and_no_cli() -> None:
    layers = ["faceport.converters", "faceport.detect", "faceport.exporters", "faceport.kinds",
              "faceport.backends"]  # fmt: skip
    found = _probe(layers, ["faceport.verify", "faceport.cli"])
    assert not found, f"a lower layer imports verify/cli: {found}"


def test_detect_and_kinds_import_no_converters_or_exporters() -> None:
    found = _probe(["faceport.detect", "faceport.kinds"],
                   ["faceport.converters", "faceport.exporters"])  # fmt: skip
    assert not found, f"detect/kinds reach up: {found}"


def test_readers_import_no_detector_or_exporter() -> None:
    found = _probe(["faceport.converters"], ["faceport.detect", "faceport.exporters"])
    assert not found, f"a reader imports detect/exporters: {found}"


def test_import_faceport_and_the_registries_stay_light() -> None:
    heavy = ["torch", "onnxruntime", "onnx", "dlib", "mxnet", "faceport.detect",
             "faceport.exporters", "faceport.verify"]  # fmt: skip
    code = (
        "import sys, json, faceport, faceport.kinds as k, faceport.backends as b\n"
        "k.all_kinds(); b.names()\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r} "
        f"or m.startswith(tuple({heavy!r})))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == []


#: the only run-time file lookups relative to the package: the checkout detection of the
#: reference path resolver, and the package-data MXNet server beside it
_PATH_ALLOWED = {"verify/references/paths.py"}


@pytest.mark.parametrize("pattern", [r"parents\[\d+\]", r"[\"'/](tests|tools)/"])
def test_no_runtime_path_into_the_checkout(pattern: str) -> None:
    hits = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in _PATH_ALLOWED:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(pattern, code) and '"""' not in code and "``" not in code:
                hits.append(f"{rel}:{number}: {line.strip()}")
    assert not hits, "paths into the source checkout at run time:\n" + "\n".join(hits)


def test_architecture_doc_lists_every_registry_entry() -> None:
    from faceport.backends import names
    from faceport.converters import FAMILY_MODULES
    from faceport.kinds import all_kinds
    from faceport.verify.references import REFERENCES

    doc = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    for name in [*FAMILY_MODULES, *(k.name for k in all_kinds()), *names(), *REFERENCES]:
        assert f"`{name}`" in doc, f"docs/architecture.md does not mention `{name}`"


def test_every_kind_pointer_resolves() -> None:
    from faceport.kinds import all_kinds, resolve
    from faceport.verify.references import REFERENCES

    for kind in all_kinds():
        for pointer in (kind.feed, kind.detector, kind.export_builder, kind.fp16_fp32_nodes):
            if pointer is not None:
                assert resolve(pointer) is not None, f"{kind.name}: {pointer}"
        for ref in (kind.reference_runner, kind.reference_detector):
            assert ref is None or ref in REFERENCES, f"{kind.name}: unknown reference {ref}"


def test_package_data_server_is_a_plain_script() -> None:
    """The MXNet server runs in the MXNet venv: it must not import faceport."""
    server = Path(PACKAGE / "verify" / "references" / "mxnet_server.py").read_text()
    helper = Path(PACKAGE / "verify" / "references" / "mxnet_insightface.py").read_text()
    for text in (server, helper):
        assert not re.search(r"^\s*(from|import) faceport", text, re.M)
    # run as a script, its folder is first on sys.path: no sibling may shadow what it imports
    imported = set(re.findall(r"^\s*(?:import|from) ([a-z_0-9]+)", server + helper, re.M))
    siblings = {p.stem for p in (PACKAGE / "verify" / "references").glob("*.py")}
    assert imported & siblings == {"mxnet_insightface"}, imported & siblings
