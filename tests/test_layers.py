"""The house rule "lower layers never import higher ones", checked on every import statement."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "course_utils"

# Lowest first. A module may import modules of a lower layer only.
LAYERS = [
    {"sampling", "ecosystem", "degeneration", "display"},  # pure numpy math, data and number formats
    {"tokenizer"},
    {"model"},
    {"structured"},  # grammar masks over a tokenizer (llguidance); generation applies them
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


def test_every_module_has_a_layer():
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert modules == set(RANK), "add new modules to LAYERS (and to the README's layout)"


@pytest.mark.parametrize("module", sorted(RANK))
def test_module_imports_only_lower_layers(module):
    higher = {m for m in course_imports(PACKAGE / f"{module}.py") if RANK[m] >= RANK[module] and m != module}
    assert not higher, f"course_utils.{module} imports {sorted(higher)}, which are not below it"
