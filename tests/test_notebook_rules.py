"""House rules for the lessons that nbval cannot see."""

import json
import re
from pathlib import Path

import pytest

LESSONS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PLUMBING = re.compile(r"^\s*(import|from)\s+(matplotlib|ipywidgets)\b|\bplt\.", re.M)


def code_cells(path):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def source(cell):
    return "".join(cell["source"])


def test_there_are_eight_lessons():
    assert [p.name[:2] for p in LESSONS] == ["00", "01", "02", "03", "04", "05", "06", "07"]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_no_plotting_or_widget_plumbing_in_lessons(path):
    # Notebooks teach, course_utils works: figures and controls come from plots / widgets.
    offenders = [source(c)[:80] for c in code_cells(path) if PLUMBING.search(source(c))]
    assert not offenders, f"{path.name}: move this plumbing into course_utils: {offenders}"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_nbval_markers_say_why(path):
    for cell in code_cells(path):
        lines = source(cell).splitlines()
        for i, line in enumerate(lines):
            if "NBVAL_" in line:
                reason = lines[i + 1] if i + 1 < len(lines) else ""
                assert reason.lstrip().startswith("#") and "NBVAL" not in reason, (
                    f"{path.name}: '{line.strip()}' needs a comment on the next line saying why"
                )


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_committed_with_outputs_and_no_errors(path):
    cells = code_cells(path)
    assert all(c["execution_count"] is not None for c in cells), f"{path.name}: run every cell before committing"
    errors = [o for c in cells for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{path.name}: an error output is committed"


def output_text(output) -> str:
    data = output.get("data", {})
    return "".join(output.get("text", "")) + "".join(data.get("text/plain", "")) + "".join(data.get("text/html", ""))


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_no_answers_on_the_page(path):
    # The notebooks learners open are the lessons themselves: no solution cells, and no committed
    # "Correct!" (an answer that passes its check). solution() is there for whoever asks.
    cells = json.loads(path.read_text())["cells"]
    tagged = [source(c)[:60] for c in cells if "solution" in c.get("metadata", {}).get("tags", [])]
    assert not tagged, f"{path.name}: cells tagged 'solution': {tagged}"
    correct = [source(c)[:60] for c in code_cells(path) if any("Correct!" in output_text(o) for o in c["outputs"])]
    assert not correct, f"{path.name}: a committed 'Correct!' output gives the answer away: {correct}"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_running_a_lesson_spends_no_hint(path):
    # Hints are on request, like solutions: a hint() call that Run All executes would put the first
    # hint on the page before the learner tried anything, and their own first hint() would show the
    # second. Every hint() in a lesson is commented out for the learner to run.
    live = [source(c) for c in code_cells(path)
            if any(re.search(r"\.hint\(", line.split("#", 1)[0]) for line in source(c).splitlines())]
    assert not live, f"{path.name}: comment out these hint() calls: {live}"
    shown = [output_text(o)[:60] for c in code_cells(path) for o in c["outputs"] if "💡 Hint" in output_text(o)]
    assert not shown, f"{path.name}: a hint is committed on the page: {shown}"
