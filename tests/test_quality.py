"""Project-wide checks: lint, types, layering and public surface."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "testbed"

# Each layer may import only from the layers listed for it (and the standard library / third parties).
ALLOWED = {
    "core": {"core"},
    "packages": {"core", "packages"},
    "requirements": {"core", "requirements"},
    "terminology": {"core", "packages", "terminology"},
    "identifiers": {"core", "packages", "identifiers"},
    "fhir": {"core", "packages", "terminology", "identifiers", "fhir"},
    "national": {"core", "packages", "national"},
    "cdacontent": {"core", "packages", "national", "cdacontent"},
    "hl7v2": {"core", "packages", "terminology", "identifiers", "national", "requirements", "hl7v2"},
    "cda": {
        "core",
        "packages",
        "terminology",
        "identifiers",
        "national",
        "requirements",
        "cdacontent",
        "cda",
    },
    "synthetic": {"core", "packages", "identifiers", "national", "cdacontent", "synthetic"},
    "igtools": {"core", "packages", "terminology", "identifiers", "fhir", "requirements", "igtools"},
    "security": {"core", "security"},
}
_STANDARDS = {
    "core",
    "packages",
    "requirements",
    "terminology",
    "identifiers",
    "national",
    "cdacontent",
    "fhir",
    "hl7v2",
    "cda",
}
ALLOWED["api"] = _STANDARDS | {"api", "inputs"}
ALLOWED["inputs"] = _STANDARDS | {"inputs"}
ALLOWED["simulator"] = _STANDARDS | {"api", "inputs", "security", "synthetic", "simulator"}
ALLOWED["scenarios"] = ALLOWED["simulator"] | {"scenarios"}
ALLOWED["reporting"] = _STANDARDS | {"api", "scenarios", "security", "reporting"}


def _layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE).parts
    return rel[0] if len(rel) > 1 else rel[0].removesuffix(".py")


def _testbed_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("testbed."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("testbed."))
    return found


def _existing_layers() -> list[str]:
    return sorted(n for n in ALLOWED if (PACKAGE / f"{n}.py").is_file() or (PACKAGE / n).is_dir())


def test_every_module_belongs_to_a_layer() -> None:
    known = set(ALLOWED) | {"cli", "__init__", "__main__"}
    found = {_layer(p) for p in PACKAGE.rglob("*.py")}
    assert found - known == set()


@pytest.mark.parametrize("layer", _existing_layers())
def test_layers_import_downwards_only(layer: str) -> None:
    bad = []
    module = PACKAGE / f"{layer}.py"
    paths = [module] if module.is_file() else sorted((PACKAGE / layer).rglob("*.py"))
    assert paths, f"no module for layer {layer}"
    for path in paths:
        extra = _testbed_imports(path) - ALLOWED[layer]
        if extra:
            bad.append(f"{path.relative_to(ROOT)} imports {sorted(extra)}")
    assert bad == []


def _tool(name: str) -> list[str]:
    exe = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if exe is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return [exe]


def test_ruff_is_clean() -> None:
    result = subprocess.run(
        [*_tool("ruff"), "check", "testbed", "tests", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean() -> None:
    result = subprocess.run([*_tool("mypy")], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
