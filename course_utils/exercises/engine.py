"""The exercise engine: ``check(answer)``, ``hint()``, ``solution()`` with feedback in plain words.

Every exercise of every lesson goes through this module, so the things that can go wrong with
any answer are handled once, here, the same way everywhere:

* the untouched placeholder (``...`` or ``None``, or a function that still returns ``None``)
  gets a calm "No answer yet", not a red ✗: a fresh notebook must not look broken;
* an exception in the learner's function is reported by name and message, without a traceback;
* a value where a function was expected (``check(softmax(z))``), and a function where a value
  was expected, get a sentence saying what to pass instead;
* the answer is converted to the kind the exercise expects (:data:`NUMBER`, :data:`FLOATS`, ...)
  before any comparison; an answer of another kind gets the kind's own sentence.

A lesson module (``lesson02`` ...) then holds only its exercises' data: the question, the hints,
the cases, the diagnosis of the mistakes learners make, and the one copy of each reference
solution, a plain function that :meth:`Exercise.solution` shows and the tests run. How to add an
exercise: docs/adding-an-exercise.md.
"""

from __future__ import annotations

import ast
import copy
import html
import inspect
import math
import numbers
import re
import textwrap
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from course_utils import checks

__all__ = [
    "Feedback",
    "Kind",
    "FLOATS",
    "ARRAY",
    "NUMBER",
    "WHOLE_NUMBER",
    "TRUTH",
    "TOKEN_IDS",
    "whole_numbers",
    "Case",
    "Exercise",
    "FunctionExercise",
    "ValueExercise",
    "describe",
]

# mark, colour, background (Okabe-Ito colours; "empty" is deliberately neutral: nothing is wrong yet)
_STYLES = {
    "correct": ("✓", "#009E73", "#E6F5F0"),
    "incorrect": ("✗", "#D55E00", "#FBEDE5"),
    "empty": ("✎", "#666666", "#F4F4F4"),
    "hint": ("💡", "#0072B2", "#E5F0F7"),
    "solution": ("📖", "#555555", "#F2F2F2"),
}

NO_ANSWER_YET = "No answer yet"
_REPLACE_THE_PLACEHOLDER = "Replace the placeholder `...` with your answer, run that cell, then this check again."


@dataclass(frozen=True)
class Feedback:
    """What ``check``, ``hint`` and ``solution`` return: a titled message that displays itself.

    ``kind`` is 'correct', 'incorrect', 'empty' (no answer yet), 'hint' or 'solution';
    ``bool(feedback)`` is True only for 'correct'. ``code`` (optional) is shown as a code block
    after the message. It displays as a coloured box in JupyterLab and as deterministic plain
    text elsewhere (strict nbval compares that text).
    """

    kind: str
    title: str
    message: str = ""
    code: str = ""

    @property
    def passed(self) -> bool:
        return self.kind == "correct"

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        parts = [f"{_STYLES[self.kind][0]} {self.title}"]
        if self.message:
            parts.append(self.message)
        if self.code:
            parts.append(self.code)
        return "\n".join(parts)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        mark, color, background = _STYLES[self.kind]
        body = f"<div>{inline_markdown_html(self.message)}</div>" if self.message else ""
        code = f"<pre style='margin:0.4em 0 0 0'>{html.escape(self.code)}</pre>" if self.code else ""
        return (
            f"<div style='border-left:4px solid {color};background:{background};"
            f"padding:0.5em 0.8em;color:#222'>"
            f"<b style='color:{color}'>{mark} {inline_markdown_html(self.title)}</b>{body}{code}</div>"
        )


# Feedback is written with the inline Markdown of the lessons' prose (`code`, *emphasis*, **strong**);
# in the HTML box it must read as formatting, not as backticks and asterisks.
_CODE_SPAN = re.compile(r"`([^`]+)`")
_STRONG = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_EMPHASIS = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")


def inline_markdown_html(text: str) -> str:
    """`text` escaped for HTML, with its inline Markdown as <code>, <strong> and <em>.

    Code spans are cut out first, so an asterisk inside one (`a * b`) stays an asterisk.
    """
    parts = _CODE_SPAN.split(text)  # even indices: prose; odd: the insides of code spans
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{html.escape(part)}</code>")
        else:
            prose = html.escape(part)
            prose = _STRONG.sub(r"<strong>\1</strong>", prose)
            out.append(_EMPHASIS.sub(r"<em>\1</em>", prose))
    return "".join(out)


def describe(value: Any) -> str:
    """A short, deterministic rendering of an argument or an answer for feedback messages."""
    if isinstance(value, np.ndarray):
        with np.printoptions(precision=4, suppress=True, threshold=20):
            return " ".join(np.array2string(value, separator=", ").split())
    if isinstance(value, str):
        return repr(value[:40] + ("..." if len(value) > 40 else ""))
    return repr(value)


def _is_placeholder(value: Any) -> bool:
    return value is None or value is Ellipsis


# -- kinds: what an answer must be, and the conversion to it -----------------------------------


class WrongKind(Exception):
    """Raised by a Kind's conversion; its message says what the answer should have been."""


@dataclass(frozen=True)
class Kind:
    """The kind of answer an exercise expects: ``convert`` turns an answer into it or raises
    :class:`WrongKind` with a sentence for the learner; ``wanted`` names it ("a single number")."""

    wanted: str
    convert: Callable[[Any], Any]

    def __call__(self, value: Any) -> Any:
        return self.convert(value)


def _to_floats(value: Any) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise WrongKind("which is not an array of numbers") from None


def _to_array(value: Any) -> np.ndarray:
    array = np.asarray(value) if not isinstance(value, str) else np.asarray([value])
    if array.dtype.kind not in "biuf":
        raise WrongKind("which is not an array of numbers")
    return array


def _to_number(value: Any) -> float:
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if not checks.is_real(value):
        raise WrongKind("but it should be a single number (like 2.5)")
    return float(value)


def _to_whole_number(value: Any) -> int:
    try:
        number = _to_number(value)
    except WrongKind:
        number = math.nan
    if not math.isfinite(number) or not number.is_integer():
        raise WrongKind("but it should be a whole number (like 1000)")
    return int(number)


def _to_truth(value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise WrongKind("but it should be True or False (bool(...) converts)")
    return bool(value)


def _to_token_ids(value: Any) -> list[int]:
    if isinstance(value, str):
        raise WrongKind(
            "which is text; return the list of token ids (ints) instead: model.decode(ids) turns "
            "ids into text when you want to read them"
        )
    try:
        return [_to_whole_number(t) for t in value]
    except (TypeError, WrongKind):
        raise WrongKind("but it should be a list of token ids (whole numbers)") from None


def _to_text(value: Any) -> str:
    if not isinstance(value, str):
        raise WrongKind("but it should be text (a str)")
    return value


FLOATS = Kind("an array of numbers", _to_floats)
"""Any array-like of numbers, converted to a float64 array (shapes are the diagnosis' job)."""
ARRAY = Kind("an array of numbers", _to_array)
"""Any array-like of numbers or booleans, as a numpy array of its own dtype (for index arrays
and masks, whose dtype the diagnosis inspects)."""
NUMBER = Kind("a single number", _to_number)
"""One real number (numpy scalars and one-element arrays too; ``True`` is not a number)."""
WHOLE_NUMBER = Kind("a whole number", _to_whole_number)
"""One whole number (``4.0`` and ``np.int64(4)`` too, as an int; ``True`` is not a number)."""
TRUTH = Kind("True or False", _to_truth)
"""A bool (``np.bool_`` too)."""
TOKEN_IDS = Kind("a list of token ids", _to_token_ids)
"""A list of whole numbers, as a list of ints."""
TEXT = Kind("text", _to_text)
"""A str."""


def whole_numbers(count: int, example: str) -> Kind:
    """A tuple of ``count`` whole numbers, e.g. ``whole_numbers(2, "(3, 5)")``."""
    wanted = f"a tuple of {count} whole numbers, like {example}"
    words = {2: "two", 3: "three"}.get(count, str(count))

    def convert(value: Any) -> tuple[int, ...]:
        try:
            items = tuple(value) if not isinstance(value, str) else ()
            if len(items) != count:
                raise WrongKind
            return tuple(_to_whole_number(n) for n in items)
        except (TypeError, WrongKind):
            raise WrongKind(f"but it should be a tuple of {words} whole numbers, like {example}") from None

    return Kind(wanted, convert)


class RememberingModel:
    """A language model that computes each ``next_token_logits(ids)`` once and remembers it.

    An exercise that generates text runs the same generations three times per check (the reference
    answer, the learner's, the diagnosis), and a learner runs ``check()`` again and again: remembered,
    only the first run of each text costs model time. Everything else is the model's own.
    """

    def __init__(self, model):
        self._model = model
        self._logits: dict[tuple[int, ...], Any] = {}

    def __getattr__(self, name: str):
        return getattr(self._model, name)

    def next_token_logits(self, ids):
        key = tuple(int(i) for i in ids)
        if key not in self._logits:
            self._logits[key] = self._model.next_token_logits(list(key))
        return self._logits[key].copy()


_REMEMBERING: dict[int, RememberingModel] = {}


def remembering(model) -> RememberingModel:
    """The one `RememberingModel` of `model` in this kernel (every check of every exercise shares it)."""
    return _REMEMBERING.setdefault(id(model), RememberingModel(model))


# -- exercises -----------------------------------------------------------------------------------


class Exercise:
    """Base class: a question, hints revealed one by one, a reference solution, and ``check``.

    ``solution`` is the reference solution, a function defined at module level under the
    exercise's ``name`` (with no docstring: its source is what :meth:`solution` shows).
    Subclasses implement :meth:`_problem`, which returns None when the (non-placeholder) answer
    is right, ``(NO_ANSWER_YET, message)`` when there is nothing to check yet, and otherwise a
    plain-words explanation of the first thing wrong with it.
    """

    def __init__(
        self,
        name: str,
        *,
        question: str,
        hints: Sequence[str],
        solution: Callable,
        praise: str = "",
    ):
        if not hints:
            raise ValueError(f"exercise {name!r} needs at least one hint")
        if getattr(solution, "__name__", None) != name:
            raise ValueError(
                f"exercise {name!r}: its reference solution must be a function named {name!r} "
                f"(the name the learner writes); got {solution!r}"
            )
        self.name = name
        self.question = question
        self.hints = tuple(hints)
        self.reference_solution = solution
        self.praise = praise
        self._hints_shown = 0

    def check(self, answer: Any) -> Feedback:
        """Check ``answer``; the returned Feedback explains what is wrong, or says it is right."""
        if _is_placeholder(answer):
            return Feedback("empty", NO_ANSWER_YET, _REPLACE_THE_PLACEHOLDER)
        problem = self._problem(answer)
        if problem is None:
            return Feedback("correct", "Correct!", self.praise)
        if isinstance(problem, tuple):
            return Feedback("empty", *problem)
        return Feedback("incorrect", "Not yet", problem)

    def hint(self, n: int | None = None) -> Feedback:
        """Hint number ``n`` (1-based); without ``n``, the next hint not yet shown."""
        total = len(self.hints)
        if n is None:
            n = min(self._hints_shown + 1, total)
        n = checks.whole_number(n, "n", minimum=1, maximum=total, hint=f"hint(n) shows hint number n of the {total} for {self.name!r}.")
        self._hints_shown = max(self._hints_shown, int(n))
        more = " (that was the last hint)" if n == total else " (run hint() again for the next)"
        return Feedback("hint", f"Hint {n} of {total}{more}", self.hints[n - 1])

    def solution(self) -> Feedback:
        """The reference solution, as code the learner can paste into the attempt cell."""
        return Feedback("solution", f"Solution: {self.name}", "", self.solution_code)

    @property
    def solution_code(self) -> str:
        """The reference solution's source, as :meth:`solution` shows it."""
        return textwrap.dedent(inspect.getsource(self.reference_solution)).rstrip()

    def solution_answer(self) -> Any:
        """What the reference solution answers: what a learner who pasted it would check."""
        return self.reference_solution

    def _problem(self, answer: Any) -> str | tuple[str, str] | None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


@dataclass(frozen=True)
class Case:
    """One call of the learner's function: its arguments and, in plain words, what it tests."""

    args: tuple
    about: str
    kwargs: dict = field(default_factory=dict)


# Arguments worth repeating in a message (a model object is not).
_DATA = (np.ndarray, list, tuple, numbers.Number, str)


def _fresh(value: Any) -> Any:
    """A copy of an argument the learner's function may change (arrays, lists); objects such as
    the model are passed as they are."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (list, dict)):
        return copy.deepcopy(value)
    return value


class FunctionExercise(Exercise):
    """The learner writes a function; it must agree with ``expected`` on every case.

    ``cases`` (or a function returning them, for cases that need the model) are tried in order
    and the first problem is reported, so order them from the plainest to the trickiest.
    ``expected(*args)`` computes the right result of a case, from the course's own library where
    it has the function (an independent check of the reference solution); it defaults to the
    reference solution. The learner's result is converted to ``returns`` (a :class:`Kind`), then
    ``diagnose(case, expected, got)`` returns None if it is acceptable and otherwise the
    explanation to show. The engine itself reports: the placeholder, a function that returns
    None, an exception (with ``explain_error(case, error)``'s sentence when it names the mistake), an
    answer of the wrong kind, and a change to the arrays passed in.
    """

    def __init__(
        self,
        name: str,
        *,
        cases: Sequence[Case] | Callable[[], Sequence[Case]],
        returns: Kind,
        diagnose: Callable[[Case, Any, Any], str | None],
        question: str,
        hints: Sequence[str],
        solution: Callable,
        expected: Callable | None = None,
        praise: str = "",
        explain_error: Callable[[Case, Exception], str | None] | None = None,
    ):
        super().__init__(name, question=question, hints=hints, solution=solution, praise=praise)
        self.explain_error = explain_error  # names a known mistake behind an exception, or None
        if not callable(cases) and not cases:
            raise ValueError(f"exercise {name!r} needs at least one case")
        self._cases = cases
        self.returns = returns
        self.diagnose = diagnose
        self.expected = expected or solution

    @property
    def cases(self) -> tuple[Case, ...]:
        return tuple(self._cases() if callable(self._cases) else self._cases)

    def _problem(self, answer: Any) -> str | tuple[str, str] | None:
        if not callable(answer):
            return (
                f"check() expects your function itself, check({self.name}) without parentheses "
                f"after the name; got {type(answer).__name__} {describe(answer)}."
            )
        for number, case in enumerate(self.cases):
            expected = self.expected(*map(_fresh, case.args), **copy.deepcopy(case.kwargs))
            args = tuple(map(_fresh, case.args))
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    got = answer(*args, **copy.deepcopy(case.kwargs))
            except Exception as error:  # the learner's bug, reported in words, not a traceback
                shown = ", ".join(describe(a) for a in case.args if isinstance(a, _DATA))
                why = self.explain_error(case, error) if self.explain_error else None
                return (
                    f"On {case.about}, your function raised {type(error).__name__}: {error}."
                    + (f" The input was {shown}." if shown else "")
                    + (f" {why}" if why else "")
                )
            if _is_placeholder(got):
                if number == 0:
                    return NO_ANSWER_YET, (
                        f"Your function returned {got!r}. Replace the placeholder `...` in it with "
                        "your code, make sure it ends with a `return`, run that cell, then this check again."
                    )
                return (
                    f"On {case.about}, your function returned {got!r}: some path through it ends "
                    "without a `return`."
                )
            for before, after in zip(case.args, args):
                if isinstance(before, np.ndarray) and not np.array_equal(before, after, equal_nan=True):
                    return (
                        f"On {case.about}, your function changed the array it was given "
                        f"(from {describe(before)} to {describe(after)}). Work on a new array "
                        "instead: callers reuse their logits."
                    )
            try:
                got = self.returns(got)
            except WrongKind as wrong:
                return f"On {case.about}, your function returned {describe(got)}, {wrong}."
            problem = self.diagnose(case, expected, got)
            if problem is not None:
                return problem
        return None


class ValueExercise(Exercise):
    """The learner computes a value; it must equal ``expected`` (within ``tolerance`` for numbers).

    The reference solution is a function without arguments that computes the value; its body
    ends with ``return <expression>`` on one line, and :meth:`solution` shows the body with that
    line written as ``<name> = <expression>``. ``expected`` (a value, or a function computing
    it) defaults to what the reference solution returns; either way it is computed when first
    needed, so an exercise that needs the model loads it only then. ``mistakes`` lists
    ``(wrong_value, explanation)`` pairs for errors learners commonly make; they are checked
    first, so a mistake close to the right value still gets its own message. Any other wrong
    value gets ``diagnose(value, expected)``, or a plain "not it".
    """

    def __init__(
        self,
        name: str,
        *,
        question: str,
        hints: Sequence[str],
        solution: Callable[[], Any],
        kind: Kind = NUMBER,
        tolerance: float | None = None,
        expected: Any = None,
        mistakes: Sequence[tuple[Any, str]] = (),
        diagnose: Callable[[Any, Any], str | None] | None = None,
        praise: str = "",
    ):
        super().__init__(name, question=question, hints=hints, solution=solution, praise=praise)
        if tolerance is not None and not tolerance > 0:
            raise ValueError(f"tolerance must be positive (or None for an exact answer), got {tolerance}")
        self.kind = kind
        self.tolerance = tolerance
        self._expected = expected
        self._resolved: tuple[Any] | None = None
        self.mistakes = tuple((kind(value), text) for value, text in mistakes)
        self.diagnose = diagnose
        self._shown_solution()  # a solution this class cannot show is the contributor's error, now
        if expected is not None and not callable(expected):
            self._check_mistakes(self.expected)

    @property
    def expected(self) -> Any:
        """The right answer, computed once, when first needed (the model loads only then)."""
        if self._resolved is None:
            source = self._expected if self._expected is not None else self.reference_solution
            value = self.kind(source() if callable(source) else source)
            self._check_mistakes(value)
            self._resolved = (value,)
        return self._resolved[0]

    def _check_mistakes(self, expected: Any) -> None:
        for value, _ in self.mistakes:
            if self._matches(value, expected, margin=2):
                raise ValueError(
                    f"mistake value {value} is within 2*tolerance of the expected {expected}: "
                    "the check could not tell them apart"
                )

    def _matches(self, value: Any, target: Any, margin: float = 1) -> bool:
        if self.tolerance is None:
            return value == target
        return abs(value - target) <= margin * self.tolerance

    @property
    def solution_code(self) -> str:
        return self._shown_solution()

    def _shown_solution(self) -> str:
        source = textwrap.dedent(inspect.getsource(self.reference_solution))
        function = ast.parse(source).body[0]
        last = function.body[-1]
        if not isinstance(last, ast.Return) or last.value is None or last.lineno != last.end_lineno:
            raise ValueError(
                f"exercise {self.name!r}: the reference solution must end with `return <value>` on one line"
            )
        if isinstance(function.body[0], ast.Expr) and isinstance(function.body[0].value, ast.Constant):
            raise ValueError(f"exercise {self.name!r}: the reference solution is shown as it is; no docstring")
        lines = source.splitlines()[function.body[0].lineno - 1 : last.lineno - 1]
        body = textwrap.dedent("\n".join(lines)).strip("\n")
        assignment = f"{self.name} = {ast.get_source_segment(source, last.value)}"
        return f"{body}\n{assignment}" if body else assignment

    def solution_answer(self) -> Any:
        return self.reference_solution()

    def _problem(self, answer: Any) -> str | None:
        if callable(answer):
            return (
                f"check() expects your answer, {self.kind.wanted}, not a function; "
                f"got {getattr(answer, '__name__', 'a function')}."
            )
        try:
            value = self.kind(answer)
        except WrongKind as wrong:
            return f"Your answer is {type(answer).__name__} {describe(answer)}, {wrong}."
        if isinstance(value, float) and not math.isfinite(value):
            return (
                f"Your answer is {value}, which is not a finite number; check for an overflow or "
                "a division by zero."
            )
        expected = self.expected
        if self._matches(value, expected):
            return None
        for wrong, explanation in self.mistakes:
            if self._matches(value, wrong):
                return explanation
        if self.diagnose is not None:
            problem = self.diagnose(value, expected)
            if problem is not None:
                return problem
        return f"{value:g} is not it. Try hint() if you are stuck." if isinstance(value, float) else (
            f"{value!r} is not it. Try hint() if you are stuck."
        )
