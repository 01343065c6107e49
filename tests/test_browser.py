"""The course as a learner uses it: every lesson in JupyterLab, in headless Chromium.

For each lesson (notebooks/NN_*.ipynb, found automatically): open it in a JupyterLab server
this module starts on a copy of the notebooks, Run All, and check that no cell errors and the
browser console stays clean. Then for every explorer on the page (found by its DOM class, see
tests/browser_support.py): focus its main slider, press an arrow key, and check that the
picture on screen changed and was drawn for the value the slider now shows; press the other
arrow and the first one again, and check the same move draws the same picture. A screenshot of
every explorer is saved in artifacts/screenshots/ for a person to look at.

Nothing here fails for being slow: every check on something that appears asynchronously (a
redraw, outputs, widgets, the kernel) waits for the condition itself through
``browser_support.wait_until``, with a generous bound, and a failure says how long it waited.
A wrong picture still fails, and at once (see ``Explorer.press``).

Needs Debian's chromium: skipped on a learner's machine without it, fails in CI
(COURSE_REQUIRE_ALL=1). Heavy: run it under ``flock /tmp/dd_heavy.lock`` on shared machines.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

from browser_support import (
    LAPTOP_WINDOW,
    MIN_TEXT_CSS_PX,
    REDRAW_TIMEOUT_S,
    RENDER_TIMEOUT_S,
    SCREENSHOTS,
    Change,
    Explorer,
    LessonPage,
    WaitTimeout,
    chromium,
    jupyterlab_server,
    lesson_notebooks,
    screenshot_path,
    visible_change,
    wait_until,
)
from conftest import require_browser

LESSONS = lesson_notebooks()
HARNESS_NOTEBOOK = "zz_harness_check.ipynb"
# The harness's frozen explorer never redraws: like a late picture, it fails only when the bound
# runs out, so it gets a short one. Every real check uses the generous REDRAW_TIMEOUT_S.
FROZEN_BOUND_S = 5
LATE_S = 3
TOY_KINDS = ("honest", "late", "stale", "frozen")

# A notebook of four toy explorers with the hooks, built from plain ipywidgets: one honest, one
# honest but late (it redraws LATE_S after the change, like a busy machine), one whose PNG claims
# a stale value, one whose picture never changes. It shows that the checks below wait for a late
# picture, and catch a picture that does not match the slider, not only a missing one.
_HARNESS_SETUP = f"LATE_S = {LATE_S}\n" + """
import io
import time
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
        if kind == "late":
            time.sleep(LATE_S)
        if kind in ("honest", "late"):
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
        nbformat.v4.new_code_cell(f"toy_explorer({kind!r})") for kind in TOY_KINDS
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


def press(explorer: Explorer, key: str, where: str, shot: Path) -> Change:
    """``explorer.press``; a picture that never comes fails with where, waited time, screenshot."""
    try:
        return explorer.press(key)
    except WaitTimeout as error:
        explorer.screenshot(shot)
        pytest.fail(f"{where}: {error}", pytrace=False)


def test_lessons_are_found():
    assert LESSONS, "no lesson notebooks found (expected notebooks/NN_name.ipynb)"


class FakeClock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self):
        self.now, self.sleeps = 100.0, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_a_visible_change_is_a_mark_that_moved_recoloured_or_came_not_a_word():
    bars = [["patch", "#0072b2ff", [10, 10, 20, 60]], ["line", "#d55e00", [100, 5, 100, 95]]]
    assert visible_change(bars, [list(m) for m in bars]) is None
    one_px = [bars[0], ["line", "#d55e00", [101, 5, 101, 95]]]
    assert visible_change(bars, one_px) is None  # a pixel of rounding is not a change
    moved = [bars[0], ["line", "#d55e00", [103, 5, 103, 95]]]
    assert visible_change(bars, moved) == "a line moved"
    grey = [["patch", "#bbbbbbff", [10, 10, 20, 60]], bars[1]]
    assert "changed colour" in visible_change(bars, grey)
    assert "appeared or vanished" in visible_change(bars, bars[:1])
    # Real explorers: a top-k explorer at k = 50 with 30 bars drawn changes nothing visible at 51.
    from course_utils.model import load_model
    from course_utils.plots import drawn_marks
    from course_utils.widgets import TruncationExplorer

    explorer = TruncationExplorer(load_model(), mode="top_k", top_k=50)
    before = drawn_marks(explorer.figure)
    assert visible_change(before, drawn_marks(explorer.set(top_k=51).figure)) is None
    explorer.set(top_k=10)
    before = drawn_marks(explorer.figure)
    assert visible_change(before, drawn_marks(explorer.set(top_k=11).figure)) is not None


def test_wait_until_returns_as_soon_as_the_condition_holds():
    clock, seen = FakeClock(), []

    def probe() -> int:
        seen.append(len(seen) + 1)
        return seen[-1]

    value, waited = wait_until(
        probe, lambda n: n == 3, expected="the third value", timeout_s=60, poll_s=0.5,
        clock=clock, sleep=clock.sleep,
    )  # fmt: skip
    assert (value, waited) == (3, 1.0)
    assert seen == [1, 2, 3] and clock.sleeps == [0.5, 0.5], "no probe or sleep after success"
    assert wait_until(lambda: "x", bool, expected="x", timeout_s=60, clock=clock,
                      sleep=clock.sleep) == ("x", 0.0)  # fmt: skip


def test_wait_until_fails_naming_the_wait_and_the_last_value_seen():
    clock, values = FakeClock(), iter(range(1000))
    with pytest.raises(WaitTimeout) as caught:
        wait_until(
            lambda: f"v{next(values)}", lambda v: v == "never",
            expected="the picture drawn for '0.70'", timeout_s=2, poll_s=0.5,
            clock=clock, sleep=clock.sleep,
        )  # fmt: skip
    error = caught.value
    assert str(error) == (
        "waited 2.0 s (bound 2 s) for the picture drawn for '0.70'; last seen: 'v4'"
    )
    assert (error.last, error.waited_s, error.timeout_s) == ("v4", 2.0, 2)
    assert isinstance(error, AssertionError), "pytest must report it as a failed check"
    assert sum(clock.sleeps) == 2.0, "it must not sleep past the bound"


def test_wait_until_waits_for_a_late_value_in_real_time():
    """Real clock: a condition that becomes true after 0.3 s is waited for, not failed."""
    start = time.monotonic()
    value, waited = wait_until(
        lambda: time.monotonic() - start >= 0.3, bool, expected="0.3 s", timeout_s=10,
        poll_s=0.05,
    )  # fmt: skip
    assert value is True and 0.3 <= waited < 5


@pytest.mark.browser
@pytest.mark.parametrize("lesson", [HARNESS_NOTEBOOK], indirect=True)
def test_the_checks_catch_a_picture_that_does_not_match_the_slider(lesson):
    lesson.run_all()
    found, _ = wait_until(
        lesson.explorers, lambda found: len(found) == len(TOY_KINDS), expected="the toy explorers",
        timeout_s=RENDER_TIMEOUT_S, describe=lambda found: f"{len(found)} found",
    )  # fmt: skip
    honest, late, stale, frozen = found
    for explorer in found:
        assert explorer.wait_for_hooks() == []

    # Honest: a new picture drawn for the value shown; generous bound, returns when it is there.
    honest.focus_control()
    change = honest.press("ArrowRight")
    assert change.ok and change.shown == change.drawn == "4", change
    assert change.ms is not None and change.waited_s < REDRAW_TIMEOUT_S

    # Late: the same, LATE_S later. It is waited for, and the wait is measured.
    late.focus_control()
    change = late.press("ArrowRight")
    assert change.ok and change.shown == change.drawn == "4", change
    assert change.waited_s >= LATE_S and change.ms >= LATE_S * 1000, change

    # Stale: a new picture, drawn for '3' while the slider shows '4'. It is wrong, not late:
    # the wait ends as soon as it is painted and the kernel has answered, not at the bound.
    stale.focus_control()
    change = stale.press("ArrowRight")
    assert not change.ok and (change.shown, change.drawn) == ("4", "3"), change
    assert change.waited_s < REDRAW_TIMEOUT_S / 2, change

    # Frozen: no new picture ever; indistinguishable from a late one, so it fails at the bound,
    # and the failure says what the slider and the picture showed and how long it waited.
    frozen.focus_control()
    with pytest.raises(WaitTimeout) as caught:
        frozen.press("ArrowRight", timeout_s=FROZEN_BOUND_S)
    message = str(caught.value)
    assert caught.value.waited_s >= FROZEN_BOUND_S
    assert f"(bound {FROZEN_BOUND_S} s)" in message and "waited " in message, message
    assert "the slider shows '4'" in message and "drawn for '3'" in message, message
    assert "still the picture from before the key press" in message, message
    assert lesson.console_errors == []


@pytest.mark.browser
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

    explorers, bundles = lesson.wait_for_explorers()
    assert len(explorers) == bundles, (
        f"{lesson.name}: {bundles} outputs are explorers (widget view + image/png) but "
        f"{len(explorers)} have the DOM class dd-explorer: every explorer needs the hooks in "
        f"tests/browser_support.py (screenshot: {page_shot})"
    )

    for explorer in explorers:
        shot = screenshot_path(lesson.name, explorer)
        where = f"{lesson.name}, {explorer.label} (screenshot: {shot})"
        hook_problems = explorer.wait_for_hooks()
        explorer.root.scroll_into_view_if_needed()
        explorer.screenshot(shot)
        assert not hook_problems, f"{where}: {hook_problems}"
        problem = explorer.main_control_problem()
        assert problem is None, f"{where}: {problem}"

        try:
            first, _ = explorer.wait_for_picture_of_shown_value()
        except WaitTimeout as error:
            hint = (
                "its PNG has no 'dd-main' text chunk naming the value it was drawn for"
                if error.last["drawn"] is None
                else "after Run All the figure is not drawn for the value the slider shows"
            )
            pytest.fail(f"{where}: {hint}: {error}", pytrace=False)
        first_shown = first["shown"]
        first_pixels = explorer.figure_pixels()
        first_marks = explorer.marks()
        # The explorer rule (docs/adding-an-explorer.md): the learner's first move, the → key on the
        # main slider, moves it and changes what is drawn, not only a number in the subtitle; and a
        # truncation slider's cut is drawn on screen.
        assert explorer.next_key() == "ArrowRight", (
            f"{where}: it opens at the top of its main slider ({first_shown!r}), so the → key does nothing"
        )
        assert explorer.chunk("dd-boundary") in (None, "shown"), (
            f"{where}: its truncation slider's cut (a line at the setting) is not drawn on screen at {first_shown!r}"
        )

        explorer.focus_control()
        forward = press(explorer, "ArrowRight", where, shot)
        explorer.screenshot(shot)
        assert forward.ok, (
            f"{where}: after {forward.key} the slider shows {forward.shown!r} but the new picture "
            f"on screen was drawn for {forward.drawn!r} (after {forward.waited_s:.1f} s)"
        )
        assert forward.shown != first_shown, f"{where}: {forward.key} did not move the slider"
        moved_pixels = explorer.figure_pixels()
        assert moved_pixels != first_pixels, (
            f"{where}: the slider moved {first_shown!r} -> {forward.shown!r} but the figure's "
            "pixels on screen did not change"
        )
        assert visible_change(first_marks, explorer.marks()) is not None, (
            f"{where}: the first move {first_shown!r} -> {forward.shown!r} changed only words and numbers: no "
            "bar changed colour and no drawn mark or boundary moved. Open it where that move shows something"
        )
        assert explorer.chunk("dd-boundary") in (None, "shown"), (
            f"{where}: after the first move to {forward.shown!r} its truncation slider's cut is not drawn on screen"
        )

        back_key = "ArrowLeft" if forward.key == "ArrowRight" else "ArrowRight"
        back = press(explorer, back_key, where, shot)
        assert back.ok and back.shown == first_shown, (
            f"{where}: {back_key} should return the slider to {first_shown!r} and draw it; "
            f"it shows {back.shown!r}, the new picture was drawn for {back.drawn!r} "
            f"(after {back.waited_s:.1f} s)"
        )
        again = press(explorer, forward.key, where, shot)
        assert again.ok and again.shown == forward.shown, (
            f"{where}: {forward.key} again should show and draw {forward.shown!r}; it shows "
            f"{again.shown!r}, the new picture was drawn for {again.drawn!r} "
            f"(after {again.waited_s:.1f} s)"
        )
        assert explorer.figure_pixels() == moved_pixels, (
            f"{where}: moved {first_shown!r} -> {forward.shown!r} twice, the two pictures differ: "
            "the same slider move must draw the same picture"
        )

    assert not lesson.console_errors, (
        f"{lesson.name}: the browser console has errors: {lesson.console_errors} "
        f"(screenshot: {page_shot})"
    )

    # Legible on a laptop: a narrower window with the file browser open shrinks every figure.
    lesson.page.set_viewport_size(LAPTOP_WINDOW)
    lesson.page.evaluate("() => window.jupyterapp.shell.expandLeft()")
    for explorer in explorers:
        shot = screenshot_path(lesson.name, explorer)
        explorer.root.scroll_into_view_if_needed()
        text, _ = wait_until(
            explorer.smallest_text, lambda t: t["shownWidth"] > 0,
            expected=f"{explorer.label}: its figure laid out at the laptop width", timeout_s=RENDER_TIMEOUT_S,
        )
        explorer.screenshot(shot.with_name(shot.stem + "__laptop.png"))
        assert text["px"] >= MIN_TEXT_CSS_PX, (
            f"{lesson.name}, {explorer.label}: in a {LAPTOP_WINDOW['width']}-px window with the file browser "
            f"open its figure is shown {text['shownWidth']} px wide (drawn {text['naturalWidth']}), so its "
            f"smallest text is {text['px']:.1f} CSS px, under {MIN_TEXT_CSS_PX}"
        )
