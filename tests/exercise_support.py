"""Helpers for the exercise tests: the lesson modules, and what a rejected answer must look like."""

from __future__ import annotations

import importlib
import pkgutil
import re

import course_utils.exercises as package
from course_utils.exercises.engine import Exercise, Feedback, ValueExercise


def lesson_modules() -> list:
    """Every course_utils.exercises.lessonNN module, in lesson order."""
    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if re.fullmatch(r"lesson\d\d", m.name))
    return [importlib.import_module(f"{package.__name__}.{name}") for name in names]


def exercises_of(module) -> list[Exercise]:
    return [getattr(module, name) for name in module.__all__]


def every_exercise() -> list[Exercise]:
    return [exercise for module in lesson_modules() for exercise in exercises_of(module)]


def _squeezed(text: str) -> str:
    return " ".join(text.split())


def leaks(exercise: Exercise, text: str) -> str | None:
    """What of the answer `text` gives away (None if nothing): the reference solution's code (all
    of it, or every substantive line of it), or a value exercise's expected answer."""
    code = exercise.solution_code
    if _squeezed(code) in _squeezed(text):
        return "the whole reference solution"
    lines = [line.split("#")[0].strip() for line in code.splitlines()]
    substantive = [line for line in lines if len(line) > 12 and not line.startswith("def ")]
    if substantive and all(line in text for line in substantive):
        return f"every line of the reference solution: {substantive}"
    if isinstance(exercise, ValueExercise):
        expected = exercise.expected
        if isinstance(expected, float):
            decimals = max(0, -int(f"{exercise.tolerance:e}".split("e")[1]))
            shown = {f"{expected:.{decimals}f}"}
        elif isinstance(expected, int):
            shown = {str(expected), f"{expected:,}"}
        else:
            shown = {repr(expected), ", ".join(map(str, expected))}
        found = [s for s in shown if s in text]
        if found:
            return f"the expected answer ({found[0]})"
    return None


_CODE_ELEMENT = re.compile(r"<code>.*?</code>|<pre[^>]*>.*?</pre>", re.S)
_LITERAL_MARKDOWN = re.compile(r"`|\*\*|(?<![\w*])\*(?=[^\s*])[^*]*?[^\s*]\*(?![\w*])")


def literal_markdown(feedback: Feedback) -> str | None:
    """Markdown that the feedback's HTML box would show as raw backticks or asterisks, if any."""
    prose = _CODE_ELEMENT.sub("", feedback._repr_html_())
    found = _LITERAL_MARKDOWN.search(prose)
    return None if found is None else prose[max(0, found.start() - 30): found.end() + 30]


def assert_rejected(exercise: Exercise, answer, *phrases: str) -> str:
    """`answer` fails with a ✗ whose text contains every phrase, gives nothing away, and its HTML
    box shows no raw Markdown."""
    feedback = exercise.check(answer)
    text = str(feedback)
    raw = literal_markdown(feedback)
    assert raw is None, f"the feedback's HTML shows raw Markdown: ...{raw}..."
    assert not feedback, f"a wrong answer passed: {text}"
    assert feedback.kind == "incorrect", f"expected a ✗, got: {text}"
    for phrase in phrases:
        assert phrase in text, f"{phrase!r} missing from the feedback:\n{text}"
    leak = leaks(exercise, text)
    assert leak is None, f"the feedback gives away {leak}:\n{text}"
    return text
