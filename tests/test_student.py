"""Learner copies (`make student`): solution-tagged cells and all outputs removed, and the
lessons still make sense without their solution cells."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "make_student_copies.py"
SOLUTION_TAG = "solution"


def is_solution(cell) -> bool:
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def make_copies(source: Path, dest: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(source), str(dest)], capture_output=True, text=True, check=True
    )


@pytest.fixture
def synthetic_lesson(tmp_path) -> Path:
    v4 = nbformat.v4
    notebook = v4.new_notebook(
        cells=[
            v4.new_markdown_cell("# Softmax\nWrite `my_softmax`."),
            v4.new_code_cell(
                "def my_softmax(logits):\n    ...  # your code here",
                execution_count=1,
            ),
            v4.new_code_cell(
                "def my_softmax(logits):\n    z = np.exp(logits - logits.max())\n    return z / z.sum()",
                metadata={"tags": [SOLUTION_TAG]},
                execution_count=2,
            ),
            v4.new_markdown_cell("The answer: subtract the max first.", metadata={"tags": ["hint", SOLUTION_TAG]}),
            v4.new_code_cell(
                "print(1 + 1)",
                outputs=[v4.new_output("stream", name="stdout", text="2\n")],
                execution_count=3,
                metadata={"tags": ["keep-me"]},
            ),
        ]
    )
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    source = tmp_path / "notebooks"
    source.mkdir()
    nbformat.write(notebook, source / "01_softmax.ipynb")
    return source


def test_solution_cells_and_outputs_are_removed(synthetic_lesson, tmp_path):
    before = (synthetic_lesson / "01_softmax.ipynb").read_text()
    result = make_copies(synthetic_lesson, tmp_path / "student")
    assert "1 learner notebooks" in result.stdout
    copy = nbformat.read(tmp_path / "student" / "01_softmax.ipynb", as_version=4)
    nbformat.validate(copy)
    assert [c.source.splitlines()[0] for c in copy.cells] == [
        "# Softmax",
        "def my_softmax(logits):",
        "print(1 + 1)",
    ]
    assert "...  # your code here" in copy.cells[1].source
    code = [c for c in copy.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert copy.cells[2].metadata["tags"] == ["keep-me"]
    assert "widgets" not in copy.metadata
    assert (synthetic_lesson / "01_softmax.ipynb").read_text() == before, "the lesson itself must not change"


def test_empty_source_folder_is_an_error(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path), str(tmp_path / "out")], capture_output=True, text=True
    )
    assert result.returncode != 0 and "no notebooks" in result.stderr


def test_make_student_writes_to_the_ignored_student_folder():
    dry_run = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "student"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "scripts/make_student_copies.py notebooks student" in dry_run
    ignored = subprocess.run(["git", "check-ignore", "-q", "student/x.ipynb"], cwd=ROOT)
    assert ignored.returncode == 0, "student/ must be in .gitignore"


# -- the real lessons ---------------------------------------------------------------------

LESSONS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_real_lessons_become_learner_copies(tmp_path):
    assert LESSONS, "no lessons in notebooks/"
    make_copies(ROOT / "notebooks", tmp_path)
    for lesson in LESSONS:
        original = nbformat.read(lesson, as_version=4)
        copy = nbformat.read(tmp_path / lesson.name, as_version=4)
        nbformat.validate(copy)
        kept = [c for c in original.cells if not is_solution(c)]
        assert [c.source for c in copy.cells] == [c.source for c in kept], lesson.name
        assert not any(is_solution(c) for c in copy.cells)
        assert all(c.outputs == [] for c in copy.cells if c.cell_type == "code"), lesson.name


def python_source(cell) -> str:
    """A code cell's source with IPython magics and shell escapes blanked out."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in cell.source.splitlines())


def defined_and_used(source: str) -> tuple[set[str], set[str]]:
    tree = ast.parse(source)
    defined, used = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (defined if isinstance(node.ctx, (ast.Store, ast.Del)) else used).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
    return defined, used


def names_learners_would_miss(notebook) -> list[list[str]]:
    """Per learner cell: the names it uses that only a solution cell defines."""
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    parsed = [(is_solution(c), *defined_and_used(python_source(c))) for c in cells]
    learner_defined = set().union(*(d for solution, d, _ in parsed if not solution))
    only_in_solutions: set[str] = set()
    problems = []
    for solution, defined, used in parsed:
        if solution:
            only_in_solutions |= defined - learner_defined
        elif used & only_in_solutions:
            problems.append(sorted(used & only_in_solutions))
    return problems


def test_dependency_on_a_solution_cell_is_caught():
    v4 = nbformat.v4
    notebook = v4.new_notebook(
        cells=[
            v4.new_code_cell("import numpy as np\nstub = None"),
            v4.new_code_cell("answer = np.exp(1)\ndef helper(): pass", metadata={"tags": [SOLUTION_TAG]}),
            v4.new_code_cell("%matplotlib inline\nprint(answer, helper(), stub, np)"),
        ]
    )
    assert names_learners_would_miss(notebook) == [["answer", "helper"]]


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.name for p in LESSONS])
def test_no_learner_cell_depends_on_a_name_only_a_solution_cell_defines(lesson):
    """A learner copy has no solution cells, so a later cell using a name that only a
    solution cell defines would raise NameError for the learner."""
    problems = names_learners_would_miss(nbformat.read(lesson, as_version=4))
    assert problems == [], f"{lesson.name}: learner cells use names only solution cells define: {problems}"
