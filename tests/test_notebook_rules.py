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


def test_there_are_ten_lessons():
    assert [p.name[:2] for p in LESSONS] == ["00", "01", "02", "03", "04", "05", "06", "07", "08", "09"]


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
    return "".join(output.get("text", "")) + "".join(
        "".join(data.get(kind, "")) for kind in ("text/plain", "text/html", "text/markdown"))


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


# A lesson shows what a learner needs from a library; where each fact was checked (files, commits,
# the course's own tests) lives in course_utils/ecosystem.py and docs/ecosystem.md, linked from the lesson.
CITATION = re.compile(r"tests/|\bcommit [0-9a-f]{7}|re-checked by")


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lessons_show_facts_not_where_they_were_checked(path):
    cells = json.loads(path.read_text())["cells"]
    shown = [source(c) for c in cells if c["cell_type"] == "markdown"]
    shown += [output_text(o) for c in code_cells(path) for o in c["outputs"]]
    found = [match.group(0) + " in: " + text[max(0, match.start() - 60): match.end() + 20]
             for text in shown for match in [CITATION.search(text)] if match]
    assert not found, f"{path.name}: citations or test plumbing on the learner's page (link docs/ecosystem.md): {found}"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_in_the_wild_links_to_the_full_record(path):
    markdown = [source(c) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown"]
    if any(text.startswith("## In the wild") for text in markdown):
        assert any("../docs/ecosystem.md" in text for text in markdown), (
            f"{path.name}: its In the wild section should link the full record, ../docs/ecosystem.md"
        )


def test_the_full_record_of_the_ecosystem_is_current():
    from course_utils import ecosystem

    doc = Path(__file__).resolve().parents[1] / ecosystem.REFERENCE_DOC
    assert doc.read_text() == ecosystem.reference_markdown(), (
        f"{ecosystem.REFERENCE_DOC} is older than course_utils/ecosystem.py: run `make ecosystem-doc`"
    )


def stated_minutes(path) -> int:
    first = source(json.loads(path.read_text())["cells"][0])
    return int(re.search(r"\*\*Time:\*\* about (\d+) minutes", first).group(1))


def test_the_lesson_times_agree_everywhere_they_are_stated():
    # A lesson states its time once at its top; lesson 00 and the README list the same numbers,
    # and the instructor guide's agendas are built from them.
    row = re.compile(r"^\| (\d\d) \|.*?\| (\d+) min", re.M)
    lesson_00 = "\n".join(source(c) for c in json.loads(LESSONS[0].read_text())["cells"])
    rows = {m.group(1): int(m.group(2)) for m in row.finditer(lesson_00)}
    readme = (LESSONS[0].parents[1] / "README.md").read_text()
    in_readme = {m.group(1): int(m.group(2)) for m in row.finditer(readme)}
    for path in LESSONS:
        number = path.name[:2]
        assert rows.get(number) == stated_minutes(path), f"lesson 00's table vs {path.name}'s own time"
        assert in_readme.get(number) == stated_minutes(path), f"the README's table vs {path.name}'s own time"
