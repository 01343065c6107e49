"""The house rule "lower layers never import higher ones", checked on every import statement.

A package (plots/, widgets/, exercises/) is one unit: its modules may import each other and
anything in a lower layer."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "course_utils"

# Lowest first. A module may import modules of a lower layer only.
LAYERS = [
    {"checks"},  # what a learner passes in: one rule for every check
    {"sampling", "ecosystem", "degeneration", "display"},  # pure numpy math, data and number formats
    {"tokenizer"},
    {"model"},
    {"generation", "adapters"},
    {"plots"},
    {"widgets"},
    {"exercises"},
    {"setup_check"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def course_imports(path: Path) -> set[str]:
    """Every course_utils module that `path` imports, at top level or inside functions."""
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


SOURCES = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def unit(source: str) -> str:
    """The layer unit a source file belongs to: a top-level module, or the package it sits in."""
    return source.split("/")[0].removesuffix(".py")


def test_every_module_has_a_layer():
    assert {unit(source) for source in SOURCES} == set(RANK), "add new modules and packages to LAYERS (and to the README's layout)"


@pytest.mark.parametrize("source", SOURCES)
def test_module_imports_only_lower_layers(source):
    own = unit(source)
    higher = {m for m in course_imports(PACKAGE / source) if RANK[m] >= RANK[own] and m != own}
    assert not higher, f"course_utils/{source} imports {sorted(higher)}, which are not below {own}"
