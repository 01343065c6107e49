"""The course as a learner uses it: every lesson in JupyterLab, in headless Chromium.

For each lesson (notebooks/NN_*.ipynb, found automatically): open it in a JupyterLab server
this module starts on a copy of the notebooks, Run All, and check that no cell errors and the
browser console stays clean. Then for every explorer on the page (found by its DOM class, see
tests/browser_support.py): focus its main slider, press an arrow key, and check that the
picture on screen changed and was drawn for the value the slider now shows; press the other
arrow and the first one again, and check the same move draws the same picture. A screenshot of every explorer is saved in
artifacts/screenshots/ for a person to look at.

Needs Debian's chromium: skipped on a learner's machine without it, fails in CI
(COURSE_REQUIRE_ALL=1). Heavy: run it under ``flock /tmp/dd_heavy.lock`` on shared machines.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from browser_support import (
    SCREENSHOTS,
    LessonPage,
    chromium,
    jupyterlab_server,
    lesson_notebooks,
    screenshot_path,
)
from conftest import require_browser

LESSONS = lesson_notebooks()
HARNESS_NOTEBOOK = "zz_harness_check.ipynb"

pytestmark = pytest.mark.browser

# A notebook of three toy explorers with the hooks, built from plain ipywidgets: one honest,
# one whose PNG claims a stale value, one whose picture never changes. It shows that the checks
# below catch a picture that does not match the slider, not only a missing one.
_HARNESS_SETUP = """
import io
import ipywidgets as w
from matplotlib.figure import Figure

def toy_explorer(kind):
    fig = Figure(figsize=(3, 2), dpi=60)
    ax = fig.add_subplot()
    bar = ax.bar([0], [1])[0]
    ax.set_ylim(0, 10)
    slider = w.IntSlider(value=3, min=0, max=9, description=kind)
    def png(value, label):
        bar.set_height(value)
        out = io.BytesIO()
        fig.savefig(out, format="png", metadata={"dd-main": label})
        return out.getvalue()
    image = w.Image(value=png(3, "3"), format="png")
    def redraw(change):
        if kind == "honest":
            image.value = png(change["new"], str(change["new"]))
        elif kind == "stale":
            image.value = png(change["new"], "3")
    slider.observe(redraw, names="value")
    slider.add_class("dd-main-control")
    image.add_class("dd-figure")
    root = w.VBox([slider, image])
    root.add_class("dd-explorer")
    return root
"""


def write_harness_notebook(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(_HARNESS_SETUP)] + [
        nbformat.v4.new_code_cell(f"toy_explorer({kind!r})") for kind in ("honest", "stale", "frozen")
    ]
    path = folder / HARNESS_NOTEBOOK
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """One JupyterLab server over a copy of the lessons and one Chromium, for the module."""
    executable = require_browser()
    workdir = tmp_path_factory.mktemp("browser")
    harness = write_harness_notebook(tmp_path_factory.mktemp("harness"))
    with (
        jupyterlab_server([*LESSONS, harness], workdir) as server,
        chromium(executable, workdir) as browser,
    ):
        yield server, browser


@pytest.fixture
def lesson(lab, request):
    """The lesson open in a fresh tab; its kernel is shut down afterwards to free the model."""
    server, browser = lab
    page = LessonPage(browser.new_page(), server, request.param)
    try:
        page.open()
        yield page
    finally:
        page.page.close()
        server.shutdown_kernels()


def test_lessons_are_found():
    assert LESSONS, "no lesson notebooks found (expected notebooks/NN_name.ipynb)"


@pytest.mark.parametrize("lesson", [HARNESS_NOTEBOOK], indirect=True)
def test_the_checks_catch_a_picture_that_does_not_match_the_slider(lesson):
    lesson.run_all()
    honest, stale, frozen = lesson.explorers()
    for explorer in (honest, stale, frozen):
        explorer.focus_control()
        change = explorer.press("ArrowRight", timeout_s=3)
        assert change.shown == "4"
        assert change.ok is (explorer is honest), (explorer.label, change)
    assert lesson.console_errors == []


@pytest.mark.parametrize("lesson", [nb.name for nb in LESSONS], indirect=True)
def test_lesson_runs_and_every_explorer_answers_the_keyboard(lesson):
    state = lesson.run_all()
    console_after_run = list(lesson.console_errors)
    page_shot = SCREENSHOTS / f"{lesson.name.removesuffix('.ipynb')}__page.png"
    page_shot.parent.mkdir(parents=True, exist_ok=True)
    lesson.page.screenshot(path=str(page_shot), full_page=False)

    assert not state["errors"], (
        f"{lesson.name}: Run All shows error outputs: {lesson.error_output_texts()} "
        f"(screenshot: {page_shot})"
    )
    assert state["unrun"] == 0, f"{lesson.name}: {state['unrun']} code cells did not run"
    assert not console_after_run, (
        f"{lesson.name}: the browser console has errors after Run All: {console_after_run} "
        f"(screenshot: {page_shot})"
    )
    broken = lesson.page.locator(".jp-OutputArea-output:has-text('Error displaying widget')")
    assert broken.count() == 0, f"{lesson.name}: a widget failed to display (screenshot: {page_shot})"

    explorers = lesson.explorers()
    bundles = lesson.explorer_bundles()
    assert len(explorers) == bundles, (
        f"{lesson.name}: {bundles} outputs are explorers (widget view + image/png) but "
        f"{len(explorers)} have the DOM class dd-explorer: every explorer needs the hooks in "
        f"tests/browser_support.py (screenshot: {page_shot})"
    )

    for explorer in explorers:
        shot = screenshot_path(lesson.name, explorer)
        where = f"{lesson.name}, {explorer.label} (screenshot: {shot})"
        explorer.root.scroll_into_view_if_needed()
        explorer.screenshot(shot)
        assert not explorer.check_hooks(), f"{where}: {explorer.check_hooks()}"
        problem = explorer.main_control_problem()
        assert problem is None, f"{where}: {problem}"

        first_shown, first_drawn = explorer.shown(), explorer.drawn()
        assert first_drawn is not None, (
            f"{where}: its PNG has no 'dd-main' text chunk naming the value it was drawn for"
        )
        assert explorer.root.evaluate(
            "(root, [a, b]) => window.__dd.sameValue(a, b)", [first_shown, first_drawn]
        ), f"{where}: after Run All the slider shows {first_shown!r} but the figure was drawn for {first_drawn!r}"
        first_pixels = explorer.figure_pixels()

        explorer.focus_control()
        forward = explorer.press(explorer.next_key())
        explorer.screenshot(shot)
        assert forward.ok, (
            f"{where}: after {forward.key} the slider shows {forward.shown!r} but the picture on "
            f"screen was drawn for {forward.drawn!r}"
        )
        assert forward.shown != first_shown, f"{where}: {forward.key} did not move the slider"
        moved_pixels = explorer.figure_pixels()
        assert moved_pixels != first_pixels, (
            f"{where}: the slider moved {first_shown!r} -> {forward.shown!r} but the figure's "
            "pixels on screen did not change"
        )

        back_key = "ArrowLeft" if forward.key == "ArrowRight" else "ArrowRight"
        back = explorer.press(back_key)
        assert back.ok and back.shown == first_shown, (
            f"{where}: {back_key} should return the slider to {first_shown!r} and draw it; "
            f"it shows {back.shown!r}, the picture was drawn for {back.drawn!r}"
        )
        again = explorer.press(forward.key)
        assert again.ok and again.shown == forward.shown, (
            f"{where}: {forward.key} again should show and draw {forward.shown!r}; it shows "
            f"{again.shown!r}, the picture was drawn for {again.drawn!r}"
        )
        assert explorer.figure_pixels() == moved_pixels, (
            f"{where}: moved {first_shown!r} -> {forward.shown!r} twice, the two pictures differ: "
            "the same slider move must draw the same picture"
        )

    assert not lesson.console_errors, (
        f"{lesson.name}: the browser console has errors: {lesson.console_errors} "
        f"(screenshot: {page_shot})"
    )
