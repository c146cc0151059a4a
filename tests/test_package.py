"""The package surface: configuration report, public names, and the _core type stub."""

from __future__ import annotations

import ast
import re
import inspect
from pathlib import Path

import draqcore
from draqcore import _core


def test_show_config_reports_build(capsys):
    cfg = draqcore.show_config()
    assert cfg["version"] == draqcore.__version__
    assert isinstance(cfg["openmp"], bool) and cfg["threads"] >= 1
    assert cfg["simd"] in {"avx512f", "avx2", "sse2", "generic"}
    assert "openmp" in capsys.readouterr().out


def test_public_names_exist():
    for name in draqcore.__all__:
        assert hasattr(draqcore, name), name


def test_core_stub_matches_module():
    stub = Path(inspect.getfile(draqcore)).with_name("_core.pyi")
    tree = ast.parse(stub.read_text())
    declared = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    actual = {name for name in dir(_core) if not name.startswith("_")}
    assert declared == actual
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            params = [a.arg for a in node.args.args]
            doc = getattr(_core, node.name).__doc__ or ""
            # pybind11 signatures read "name(arg0: type, ...)": check names and order.
            sig = doc.splitlines()[0]
            assert re.findall(r"(?:\(|, )(\w+): ", sig) == params, node.name
