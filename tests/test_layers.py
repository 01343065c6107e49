"""The house rule "lower layers never import higher ones", checked on every import statement.

A layer holds modules and packages; every module of a package (course_utils/exercises/*.py)
sits at its package's layer and may import its siblings."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "course_utils"

# Lowest first. A module may import modules of a lower layer only.
LAYERS = [
    {"checks"},  # what a learner passes in: one rule for every check
    {"processors", "reproducibility", "interface"},  # one class per dial; the margin policy and machine noise; the model Protocols
    {"chain"},  # the sampling configuration and the list of processors it builds
    {"draw"},  # the draw and its margin
    {"sampling", "ecosystem", "degeneration", "display"},  # the functions lessons call, data and number formats
    {"tokenizer", "weight_cache", "model_file"},  # text <-> ids; the weights' cache on disk; the GGUF file read
    {"model"},
    {"beam_search", "structured", "speculative"},  # below generation, which routes num_beams, json_schema / grammar and drafts to them
    {"generation", "adapters"},
    {"plots"},
    {"widgets"},
    {"exercises"},
    {"setup_check"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def units() -> set[str]:
    """The top-level modules and packages of course_utils."""
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    return modules | packages


def files_of(unit: str) -> list[Path]:
    """The source files of a module (one) or of a package (every module in it, subpackages too)."""
    folder = PACKAGE / unit
    return sorted(folder.rglob("*.py")) if folder.is_dir() else [PACKAGE / f"{unit}.py"]


def course_imports(path: Path) -> set[str]:
    """Every course_utils module or package that `path` imports, at top level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("course_utils"):
            if node.module == "course_utils":
                found |= {alias.name for alias in node.names}
            else:
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("course_utils.")}
    return found - {"__version__"}


def test_every_module_and_package_has_a_layer():
    assert units() == set(RANK), "add new modules and packages to LAYERS (and to the README's layout)"


def test_a_package_is_checked_file_by_file():
    assert PACKAGE / "exercises" / "engine.py" in files_of("exercises")
    assert files_of("sampling") == [PACKAGE / "sampling.py"]


def test_no_relative_imports():
    # `from .engine import X` would escape the check below; the house style is absolute imports.
    relative = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for unit in sorted(RANK)
        for path in files_of(unit)
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.level
    ]
    assert not relative, f"use absolute imports (from course_utils.x import ...): {relative}"


@pytest.mark.parametrize("unit", sorted(RANK))
def test_module_imports_only_lower_layers(unit):
    for path in files_of(unit):
        higher = {m for m in course_imports(path) if RANK[m] >= RANK[unit] and m != unit}
        assert not higher, f"{path.relative_to(PACKAGE)} imports {sorted(higher)}, which are not below it"


def test_the_package_docstring_and_the_readme_name_every_module_and_package():
    import course_utils

    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    for unit in sorted(RANK):
        assert f" {unit}" in course_utils.__doc__, f"course_utils/__init__.py's layer list misses {unit}"
        assert f"  {unit}.py " in readme or f"  {unit}/ " in readme, f"the README's layout misses {unit}"

