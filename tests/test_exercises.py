"""The exercise engine, and the one test every exercise of every lesson module goes through.

Per exercise: the reference solution passes (run as a function, and as the code solution()
shows, in a namespace like its notebook's); the placeholder gets the calm "No answer yet"; no
hint or placeholder message gives the answer away; the names agree (``<name>_exercise``,
``.name == "<name>"``, the reference solution ``<name>``); and the lesson's notebook has the
exercise's cells, in ``__all__`` order, with a calm committed output. The planted mistakes of
each lesson are tables in tests/test_exercises_lessonNN.py.
"""

from __future__ import annotations

import ast
import builtins
import json
import re
from pathlib import Path

import numpy as np
import pytest
from exercise_support import assert_rejected, every_exercise, exercises_of, leaks, lesson_modules, literal_markdown

from course_utils import sampling
from course_utils.exercises import Case, Feedback, FunctionExercise, ValueExercise
from course_utils.exercises.engine import (
    ARRAY,
    FLOATS,
    NUMBER,
    TOKEN_IDS,
    TRUTH,
    WHOLE_NUMBER,
    WrongKind,
    whole_numbers,
)

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
EXERCISES = every_exercise()
IDS = [f"{m.__name__.rsplit('.', 1)[1]}.{e.name}" for m in lesson_modules() for e in exercises_of(m)]


# -- a small exercise to test the engine with ----------------------------------------------------


def double(values):
    return np.asarray(values, dtype=float) * 2


def _diagnose_double(case, expected, got):
    return None if np.allclose(got, expected) else f"On {case.about}, not doubled."


def make_double(**overrides) -> FunctionExercise:
    arguments = dict(
        cases=[Case((np.array([1.0, 2.0]),), "two numbers"), Case((np.array([-3.0]),), "a negative number")],
        returns=FLOATS,
        diagnose=_diagnose_double,
        question="Write double(values).",
        hints=["first", "second"],
        solution=double,
    )
    return FunctionExercise("double", **(arguments | overrides))


def half():
    return 0.5


# -- the placeholder, exceptions, the wrong kind of answer: handled once, for every exercise --------


@pytest.mark.parametrize("answer", [None, ...])
def test_a_placeholder_answer_is_no_answer_yet_not_a_cross(answer):
    for exercise in (make_double(), ValueExercise("half", solution=half, tolerance=0.01, question="q", hints=["h"])):
        feedback = exercise.check(answer)
        assert feedback.kind == "empty" and feedback.title == "No answer yet" and not feedback
        assert str(feedback).startswith("✎ No answer yet")


def test_a_function_that_still_returns_none_is_no_answer_yet():
    def placeholder(values):
        ...

    feedback = make_double().check(placeholder)
    assert feedback.kind == "empty" and "returned None" in feedback.message and "`return`" in feedback.message


def test_a_function_that_returns_none_on_a_later_case_is_wrong():
    def forgets_negative_numbers(values):
        if values.min() >= 0:
            return values * 2

    assert_rejected(make_double(), forgets_negative_numbers, "On a negative number", "returned None", "without a `return`")


def test_an_exception_is_named_without_a_traceback():
    def crashes(values):
        raise ZeroDivisionError("oops")

    text = assert_rejected(make_double(), crashes, "On two numbers, your function raised ZeroDivisionError: oops.")
    assert "Traceback" not in text and "The input was [1., 2.]" in text


def test_a_value_where_a_function_was_expected():
    assert_rejected(make_double(), double(np.array([1.0])), "check() expects your function itself", "without parentheses")


def test_a_function_where_a_value_was_expected():
    exercise = ValueExercise("half", solution=half, tolerance=0.01, question="q", hints=["h"])
    assert_rejected(exercise, half, "not a function")
    assert exercise.check(half())


def test_an_answer_of_the_wrong_kind_gets_the_kind_sentence():
    assert_rejected(make_double(), lambda values: "two", "your function returned 'two', which is not an array of numbers")


def test_a_changed_argument_is_reported():
    def in_place(values):
        values *= 2
        return values

    assert_rejected(make_double(), in_place, "changed the array it was given")


def test_learner_warnings_are_silenced(recwarn):
    make_double().check(lambda values: np.log(values - values))
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_arguments_that_are_objects_are_passed_as_they_are():
    marker = object()
    seen = []
    exercise = FunctionExercise(
        "double_with_object",
        cases=[Case((marker, np.array([1.0])), "an object")],
        returns=FLOATS,
        diagnose=_diagnose_double,
        question="q",
        hints=["h"],
        solution=double_with_object,
    )
    exercise.check(lambda obj, values: seen.append(obj) or values * 2)
    assert seen == [marker]


def double_with_object(obj, values):
    return values * 2


def test_cases_can_be_built_when_check_runs():
    built = []

    def cases():
        built.append(True)
        return [Case((np.array([1.0]),), "one number")]

    exercise = make_double(cases=cases)
    assert not built
    assert exercise.check(double) and built


# -- answer kinds ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, answer, converted",
    [
        (NUMBER, np.float32(0.5), 0.5),
        (NUMBER, np.array([0.5]), 0.5),
        (NUMBER, 2, 2.0),
        (WHOLE_NUMBER, 4.0, 4),
        (WHOLE_NUMBER, np.int64(4), 4),
        (TRUTH, np.bool_(True), True),
        (TOKEN_IDS, (1, np.int64(2), 3.0), [1, 2, 3]),
        (whole_numbers(2, "(3, 5)"), (4.0, np.int64(3)), (4, 3)),
        (FLOATS, [1, 2], np.array([1.0, 2.0])),
        (ARRAY, [True, False], np.array([True, False])),
    ],
)
def test_kinds_convert_what_they_accept(kind, answer, converted):
    result = kind(answer)
    assert np.array_equal(result, converted) and type(result) is type(converted)


@pytest.mark.parametrize(
    "kind, answer, words",
    [
        (NUMBER, True, "single number"),
        (NUMBER, "0.66", "single number"),
        (NUMBER, [0.1, 0.2], "single number"),
        (WHOLE_NUMBER, 3.5, "whole number"),
        (WHOLE_NUMBER, float("inf"), "whole number"),
        (TRUTH, 1, "True or False"),
        (TOKEN_IDS, "Paris", "text"),
        (TOKEN_IDS, [1.5], "token ids"),
        (whole_numbers(2, "(3, 5)"), (4,), "tuple of two whole numbers"),
        (whole_numbers(2, "(3, 5)"), "4, 3", "tuple of two whole numbers"),
        (FLOATS, ["a", "b"], "not an array of numbers"),
        (ARRAY, ["a"], "not an array of numbers"),
    ],
)
def test_kinds_refuse_the_rest_in_words(kind, answer, words):
    with pytest.raises(WrongKind, match=re.escape(words)):
        kind(answer)


# -- value exercises -------------------------------------------------------------------------------


def test_value_exercise_tolerance_mistakes_and_diagnosis():
    exercise = ValueExercise(
        "half",
        solution=half,
        tolerance=0.01,
        mistakes=[(50, "a percentage")],
        diagnose=lambda value, expected: "negative" if value < 0 else None,
        question="q",
        hints=["h"],
    )
    assert exercise.expected == 0.5 and exercise.check(0.505) and exercise.check(np.array([0.5]))
    assert_rejected(exercise, 50.0, "a percentage")
    assert_rejected(exercise, -1, "negative")
    assert_rejected(exercise, 0.7, "0.7 is not it")
    assert_rejected(exercise, float("nan"), "not a finite number")
    assert_rejected(exercise, "0.5", "single number")


def test_value_exercise_expected_is_computed_when_first_needed():
    calls = []

    def slow_answer():
        calls.append(1)
        return 7

    exercise = ValueExercise("half", solution=half, kind=WHOLE_NUMBER, expected=slow_answer, question="q", hints=["h"])
    assert not calls
    assert exercise.check(7) and exercise.check(7.0) and len(calls) == 1


def test_value_exercise_refuses_indistinguishable_mistakes():
    with pytest.raises(ValueError, match="could not tell them apart"):
        ValueExercise("half", solution=half, expected=0.5, tolerance=0.01, question="q", hints=["h"], mistakes=[(0.51, "close")])
    computed_later = ValueExercise("half", solution=half, tolerance=0.01, question="q", hints=["h"], mistakes=[(0.51, "close")])
    with pytest.raises(ValueError, match="could not tell them apart"):
        computed_later.check(0.5)
    with pytest.raises(ValueError, match="tolerance must be positive"):
        ValueExercise("half", solution=half, tolerance=0, question="q", hints=["h"])


def solution_with_docstring():
    """Not shown."""
    return 1


def solution_with_long_return():
    return (
        1
    )


def test_contributor_mistakes_are_refused_at_once():
    with pytest.raises(ValueError, match="at least one hint"):
        ValueExercise("half", solution=half, tolerance=0.01, question="q", hints=[])
    with pytest.raises(ValueError, match="at least one case"):
        make_double(cases=[])
    with pytest.raises(ValueError, match="named 'twice'"):
        FunctionExercise("twice", cases=[Case((1,), "x")], returns=NUMBER, diagnose=_diagnose_double,
                         question="q", hints=["h"], solution=double)
    for solution in (solution_with_docstring, solution_with_long_return):
        with pytest.raises(ValueError, match="reference solution"):
            ValueExercise(solution.__name__, solution=solution, question="q", hints=["h"])


def test_a_value_solution_is_shown_as_the_assignment_the_learner_writes():
    exercise = ValueExercise("half", solution=half, tolerance=0.01, question="q", hints=["h"])
    assert exercise.solution_code == "half = 0.5"
    assert exercise.solution().code == "half = 0.5" and exercise.solution_answer() == 0.5


# -- hints and display -----------------------------------------------------------------------------


def test_hints_come_one_at_a_time_then_stay_on_the_last():
    exercise = make_double()
    assert [exercise.hint().message for _ in range(3)] == ["first", "second", "second"]
    assert exercise.hint(1).title.startswith("Hint 1 of 2")
    assert "last hint" in exercise.hint(2).title
    for wrong, error in ((3, ValueError), (0, ValueError), (True, TypeError), ("1", TypeError)):
        with pytest.raises(error, match="n must be a whole number from 1 to 2"):
            exercise.hint(wrong)


def test_feedback_displays_as_text_and_html():
    feedback = Feedback("incorrect", "Not yet", "a < b & c")
    assert str(feedback) == "✗ Not yet\na < b & c"
    assert repr(feedback) == str(feedback)
    html = feedback._repr_html_()
    assert "a &lt; b &amp; c" in html and "#D55E00" in html
    solution = make_double().solution()
    assert "<pre" in solution._repr_html_() and "def double" in str(solution)
    assert not solution and not make_double().hint(1)
    assert "#D55E00" not in Feedback("empty", "No answer yet")._repr_html_()


def test_feedback_html_renders_the_inline_markdown_it_is_written_in():
    message = "Replace `...`; the k *smallest* logits, **not** `a * b` or 2 * 3"
    feedback = Feedback("incorrect", "Not yet", message)
    html = feedback._repr_html_()
    assert "<code>...</code>" in html and "<em>smallest</em>" in html and "<strong>not</strong>" in html
    assert "<code>a * b</code>" in html and "or 2 * 3" in html
    assert literal_markdown(feedback) is None
    assert str(feedback).endswith(message)  # the plain text (what nbval compares) keeps the words as written
    assert literal_markdown(Feedback("incorrect", "Not yet", "a <b>*raw*</b> `x")) is not None


# -- every exercise of every lesson module ---------------------------------------------------------


def test_every_lesson_with_exercises_has_its_module():
    with_exercises = sorted(p.name[:2] for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb") if "_exercise.check(" in p.read_text())
    assert [m.__name__[-2:] for m in lesson_modules()] == with_exercises
    assert len(with_exercises) >= 6


@pytest.mark.parametrize("module", lesson_modules(), ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_names_agree_and_all_lists_every_exercise(module):
    exercises = [v for v in vars(module).values() if isinstance(v, (FunctionExercise, ValueExercise))]
    assert module.__all__ == [f"{e.name}_exercise" for e in exercises], "__all__: every exercise, in notebook order"
    for exercise in exercises:
        assert getattr(module, exercise.name) is exercise.reference_solution


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_the_reference_solution_passes(exercise):
    feedback = exercise.check(exercise.solution_answer())
    assert feedback and str(feedback).startswith("✓ Correct!"), str(feedback)


def notebook_of(exercise) -> Path:
    number = exercise_module(exercise).__name__[-2:]
    (path,) = NOTEBOOKS.glob(f"{number}_*.ipynb")
    return path


def exercise_module(exercise):
    return next(m for m in lesson_modules() if exercise in exercises_of(m))


def code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def names_defined(source: str) -> set[str]:
    defined = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
    return defined


def names_used(source: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_the_solution_shown_works_when_pasted_into_its_notebook(exercise):
    code = exercise.solution_code
    attempts = {e.name for e in exercises_of(exercise_module(exercise))}  # the learner's own do not count
    notebook = set().union(*(names_defined("".join(c["source"])) for c in code_cells(notebook_of(exercise))))
    missing = names_used(code) - names_defined(code) - set(dir(builtins)) - (notebook - attempts)
    assert not missing, f"solution() uses {sorted(missing)}, which its notebook does not define"
    namespace = {"np": np, "softmax": sampling.softmax}
    exec(code, namespace)
    feedback = exercise.check(namespace[exercise.name])
    assert feedback, str(feedback)


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_the_placeholder_gets_no_answer_yet_and_nothing_gives_the_answer_away(exercise):
    placeholders = [None, ...]
    if isinstance(exercise, FunctionExercise):

        def placeholder(*args):
            ...

        placeholders.append(placeholder)
    for answer in placeholders:
        feedback = exercise.check(answer)
        assert feedback.kind == "empty" and feedback.title == "No answer yet", str(feedback)
        assert leaks(exercise, str(feedback)) is None
        assert literal_markdown(feedback) is None, f"raw Markdown in the HTML: {literal_markdown(feedback)}"
    assert exercise.question and exercise.hints
    for number, hint in enumerate(exercise.hints, 1):
        assert leaks(exercise, hint) is None, f"hint {number} gives the answer away: {hint}"
        shown = exercise.hint(number)
        assert literal_markdown(shown) is None, f"hint {number}: raw Markdown in the HTML: {literal_markdown(shown)}"
    assert leaks(exercise, exercise.question) is None


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_the_notebook_has_the_exercise_cells_with_a_calm_output(exercise):
    """Attempt (with its `...`), check, a hint on request, and solution() left for the learner to run."""
    name = exercise.name
    path = notebook_of(exercise)
    cells = json.loads(path.read_text())["cells"]
    sources = ["".join(c["source"]) for c in cells]
    checks = [i for i, s in enumerate(sources) if s.rstrip().endswith(f"{name}_exercise.check({name})")]
    assert len(checks) == 1, f"{path.name}: one check cell for {name}"
    i = checks[0]
    attempt, check, hint, pointer = cells[i - 1], cells[i], cells[i + 1], cells[i + 2]
    assert name in names_defined(sources[i - 1]) and "..." in sources[i - 1], f"{path.name}: the attempt cell"
    # Hints on request, as Kaggle Learn's commented-out q1.hint(): Run All never spends one.
    assert sources[i + 1].rstrip().splitlines()[-1] == f"# {name}_exercise.hint()", f"{path.name}: the hint cell"
    assert pointer["cell_type"] == "markdown" and f"`{name}_exercise.solution()`" in sources[i + 2]
    outputs = ["".join(o.get("data", {}).get("text/plain", "")) for o in check["outputs"]]
    assert outputs and outputs[-1].startswith("✎ No answer yet"), f"{path.name}: committed check output {outputs}"
    assert hint["outputs"] == [], f"{path.name}: a hint is committed on the page"
    assert attempt["cell_type"] == "code"
    assert not any(f"{name}_exercise.solution()" in s for s, c in zip(sources, cells) if c["cell_type"] == "code")


@pytest.mark.parametrize("module", lesson_modules(), ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_the_notebook_checks_the_exercises_in_module_order(module):
    (path,) = NOTEBOOKS.glob(f"{module.__name__[-2:]}_*.ipynb")
    checked = re.findall(r"(\w+_exercise)\.check\(", "\n".join("".join(c["source"]) for c in code_cells(path)))
    assert checked == module.__all__
