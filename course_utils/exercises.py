"""Checked exercises: ``check(answer)``, ``hint()``, ``solution()`` with feedback in plain words.

In a notebook::

    from course_utils.exercises import softmax_exercise
    softmax_exercise.question        # what to do
    def softmax(logits): ...         # the learner's attempt
    softmax_exercise.check(softmax)  # ✓ or a plain-words reason, as the cell's last line
    softmax_exercise.hint()          # next hint, one at a time (or hint(2) for a given one)
    softmax_exercise.solution()      # a reference solution

``check`` returns a :class:`Feedback`, which displays as a coloured box in JupyterLab and as
deterministic plain text elsewhere (strict nbval compares it), and is truthy when the answer
passed, so tests can write ``assert not softmax_exercise.check(naive_softmax)``.

Two kinds of exercise cover the lessons:

* :class:`FunctionExercise` -- the learner writes a function; it is run on cases that include
  the traps (overflow, ``-inf``, ties, batches) and compared with a reference, and a
  per-exercise ``diagnose`` turns the first wrong result into an explanation of what went
  wrong (never the code that fixes it).
* :class:`ValueExercise` -- the learner computes a number; known mistakes (a percentage
  instead of a probability, a forgotten normalisation, ...) get their own explanation.

Lesson authors: add your exercise instances (or small subclasses) at the end of this file in a
section per lesson, following ``softmax_exercise`` and ``first_token_probability_exercise``.
Compute expected values with ``course_utils.sampling`` (never type numbers by hand), and give
every trap a test with a planted wrong answer in ``tests/test_exercises.py``.
"""

from __future__ import annotations

import copy
import html
import numbers
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from course_utils import sampling

__all__ = [
    "Feedback",
    "Exercise",
    "Case",
    "FunctionExercise",
    "ValueExercise",
    "softmax_exercise",
    "first_token_probability_exercise",
]

_STYLES = {
    "correct": ("✓", "#009E73", "#E6F5F0"),
    "incorrect": ("✗", "#D55E00", "#FBEDE5"),
    "hint": ("💡", "#0072B2", "#E5F0F7"),
    "solution": ("📖", "#555555", "#F2F2F2"),
}


@dataclass(frozen=True)
class Feedback:
    """What ``check``, ``hint`` and ``solution`` return: a titled message that displays itself.

    ``kind`` is 'correct', 'incorrect', 'hint' or 'solution'; ``bool(feedback)`` is True only
    for 'correct'. ``code`` (optional) is shown as a code block after the message.
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
        mark = _STYLES[self.kind][0]
        parts = [f"{mark} {self.title}"]
        if self.message:
            parts.append(self.message)
        if self.code:
            parts.append(self.code)
        return "\n".join(parts)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        mark, color, background = _STYLES[self.kind]
        body = f"<div>{html.escape(self.message)}</div>" if self.message else ""
        code = f"<pre style='margin:0.4em 0 0 0'>{html.escape(self.code)}</pre>" if self.code else ""
        return (
            f"<div style='border-left:4px solid {color};background:{background};"
            f"padding:0.5em 0.8em;color:#222'>"
            f"<b style='color:{color}'>{mark} {html.escape(self.title)}</b>{body}{code}</div>"
        )


class Exercise:
    """Base class: a question, hints revealed one by one, a solution, and ``check``.

    Subclasses implement :meth:`_problem`, which returns None when the answer is right and
    otherwise a plain-words explanation of the first thing wrong with it.
    """

    def __init__(
        self,
        name: str,
        *,
        question: str,
        hints: Sequence[str],
        solution: str,
        praise: str = "",
    ):
        if not hints:
            raise ValueError(f"exercise {name!r} needs at least one hint")
        self.name = name
        self.question = question
        self.hints = tuple(hints)
        self._solution = solution
        self.praise = praise
        self._hints_shown = 0

    def check(self, answer: Any) -> Feedback:
        """Check ``answer``; the returned Feedback explains what is wrong, or says it is right."""
        if answer is None or answer is Ellipsis:
            return Feedback(
                "incorrect",
                "No answer yet",
                "Replace the placeholder with your answer and run the cell again.",
            )
        problem = self._problem(answer)
        if problem is None:
            return Feedback("correct", "Correct!", self.praise)
        return Feedback("incorrect", "Not yet", problem)

    def hint(self, n: int | None = None) -> Feedback:
        """Hint number ``n`` (1-based); without ``n``, the next hint not yet shown."""
        total = len(self.hints)
        if n is None:
            n = min(self._hints_shown + 1, total)
        if not isinstance(n, numbers.Integral) or not 1 <= n <= total:
            raise ValueError(f"hint(n) takes n from 1 to {total} for {self.name!r}, got {n!r}")
        self._hints_shown = max(self._hints_shown, int(n))
        more = " (that was the last hint)" if n == total else " (run hint() again for the next)"
        return Feedback("hint", f"Hint {n} of {total}{more}", self.hints[n - 1])

    def solution(self) -> Feedback:
        """A reference solution, with a reminder that trying first teaches more."""
        return Feedback("solution", f"Solution: {self.name}", "", self._solution)

    def _problem(self, answer: Any) -> str | None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


@dataclass(frozen=True)
class Case:
    """One call of the learner's function: its arguments and, in plain words, what it tests."""

    args: tuple
    about: str
    kwargs: dict = field(default_factory=dict)


def _describe(value: Any) -> str:
    """A short, deterministic rendering of an argument or result for feedback messages."""
    if isinstance(value, np.ndarray):
        with np.printoptions(precision=4, suppress=True, threshold=20):
            return " ".join(np.array2string(value, separator=", ").split())
    return repr(value)


class FunctionExercise(Exercise):
    """The learner writes a function; it must agree with ``reference`` on every case.

    ``diagnose(case, expected, got)`` returns None if ``got`` is acceptable and otherwise the
    explanation to show; the cases are tried in order and the first problem is reported, so
    order them from the plainest to the trickiest. The learner's function also fails if it
    raises, or if it changes the arrays passed to it.
    """

    def __init__(
        self,
        name: str,
        *,
        reference: Callable,
        cases: Sequence[Case],
        diagnose: Callable[[Case, Any, Any], str | None],
        question: str,
        hints: Sequence[str],
        solution: str,
        praise: str = "",
    ):
        super().__init__(name, question=question, hints=hints, solution=solution, praise=praise)
        if not cases:
            raise ValueError(f"exercise {name!r} needs at least one case")
        self.reference = reference
        self.cases = tuple(cases)
        self.diagnose = diagnose

    def _problem(self, answer: Any) -> str | None:
        if not callable(answer):
            return (
                f"check() expects your function itself, e.g. check({self.name}) without "
                f"parentheses after the name; got {type(answer).__name__} {_describe(answer)}."
            )
        for case in self.cases:
            expected = self.reference(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
            args = copy.deepcopy(case.args)
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    got = answer(*args, **copy.deepcopy(case.kwargs))
            except Exception as error:  # the learner's bug, reported in words
                return (
                    f"On {case.about}, your function raised {type(error).__name__}: {error}. "
                    f"The input was {', '.join(_describe(a) for a in case.args)}."
                )
            for before, after in zip(case.args, args):
                if isinstance(before, np.ndarray) and not np.array_equal(before, after, equal_nan=True):
                    return (
                        f"On {case.about}, your function changed the array it was given "
                        f"(from {_describe(before)} to {_describe(after)}). Work on a new array "
                        "instead: callers reuse their logits."
                    )
            problem = self.diagnose(case, expected, got)
            if problem is not None:
                return problem
        return None


class ValueExercise(Exercise):
    """The learner computes a number; it must be within ``tolerance`` of ``expected``.

    ``mistakes`` lists (wrong_value, explanation) pairs for errors learners commonly make; an
    answer within ``tolerance`` of one of them gets that explanation. Mistakes are checked
    first, so a mistake close to the right value still gets its own message.
    """

    def __init__(
        self,
        name: str,
        *,
        expected: float,
        tolerance: float,
        question: str,
        hints: Sequence[str],
        solution: str,
        mistakes: Sequence[tuple[float, str]] = (),
        praise: str = "",
    ):
        super().__init__(name, question=question, hints=hints, solution=solution, praise=praise)
        if not tolerance > 0:
            raise ValueError(f"tolerance must be positive, got {tolerance}")
        self.expected = float(expected)
        self.tolerance = float(tolerance)
        self.mistakes = tuple((float(v), text) for v, text in mistakes)
        for value, _ in self.mistakes:
            if abs(value - self.expected) <= 2 * self.tolerance:
                raise ValueError(
                    f"mistake value {value} is within 2*tolerance of the expected {self.expected}: "
                    "the check could not tell them apart"
                )

    def _problem(self, answer: Any) -> str | None:
        if isinstance(answer, np.ndarray) and answer.size == 1:
            answer = answer.item()
        if isinstance(answer, bool) or not isinstance(answer, numbers.Real):
            return f"Your answer should be a single number (like 0.42); got {type(answer).__name__} {answer!r}."
        value = float(answer)
        if not np.isfinite(value):
            return f"Your answer is {value}, which is not a finite number; check for an overflow or a division by zero."
        if abs(value - self.expected) <= self.tolerance:
            return None
        for wrong, explanation in self.mistakes:
            if abs(value - wrong) <= self.tolerance:
                return explanation
        return f"{value:g} is not it. Try hint() if you are stuck."


# -- Examples to copy: lesson 02 (softmax) ---------------------------------------------------


def _softmax_reference(logits):
    return sampling.softmax(np.asarray(logits, dtype=np.float64), axis=-1)


_SOFTMAX_CASES = (
    Case((np.array([2.0, 1.0, 0.1]),), "three ordinary logits"),
    Case((np.array([3.0, 3.0, 3.0, 3.0]),), "a tie (four equal logits)"),
    Case((np.array([1000.0, 999.0]),), "very large logits [1000, 999]"),
    Case((np.array([-1000.0, -1001.0]),), "very negative logits [-1000, -1001]"),
    Case((np.array([0.0, -np.inf, 1.0]),), "a masked token (a logit of -inf)"),
    Case((np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 5.0]]),), "a batch (a 2-D array, one row per sequence)"),
    Case((np.array([[0.0, 1.0], [2.0, 5.0]]),), "a square batch (2 rows of 2 logits)"),
    Case((np.array([[1000.0, 999.0], [0.0, 1.0]]),), "a batch whose rows have very different scales"),
)


def _diagnose_softmax(case: Case, expected: np.ndarray, got: Any) -> str | None:
    (logits,) = case.args
    shown = _describe(logits)
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return f"On {case.about}, your function returned {got!r}, which is not an array of numbers."
    if got.shape != expected.shape:
        return (
            f"On {case.about} (shape {logits.shape}), your function returned shape {got.shape}. "
            "Softmax gives one probability per logit, so the output has the input's shape."
        )
    if np.isnan(got).any():
        return _explain_softmax_nan(case, logits, got)
    if logits.ndim == 2 and not np.allclose(got.sum(axis=-1), 1.0):
        if np.allclose(got.sum(axis=0), 1.0):
            return (
                f"For the batch {shown}, the columns of your result sum to 1 but the rows do not "
                f"(row sums: {_describe(got.sum(axis=-1))}). Each row is one sequence's "
                "distribution over tokens, so normalise along the last axis (axis=-1)."
            )
        if np.isclose(got.sum(), 1.0):
            return (
                f"For the batch {shown}, your whole result sums to 1, but each row should: each row "
                "is one sequence's distribution over tokens. Sum along the last axis only."
            )
        return (
            f"For the batch {shown}, the rows of your result should each sum to 1 but sum to "
            f"{_describe(got.sum(axis=-1))}. Check every reduction (max, sum) works along the last "
            "axis and keeps that axis so it broadcasts back against each row (keepdims=True)."
        )
    if np.allclose(got, expected, rtol=1e-6, atol=1e-12):
        return None
    if logits.ndim == 1 and not np.isclose(got.sum(), 1.0):
        return (
            f"For logits {shown} your probabilities sum to {got.sum():.6g}, not 1. "
            "A probability distribution over the tokens must sum to 1."
        )
    if logits.ndim == 1 and np.ptp(logits) == 0:
        return (
            f"All logits in {shown} are equal, so every token must get the same probability, "
            f"1/{logits.size}; your function returned {_describe(got)}."
        )
    return (
        f"For logits {shown} your function returned {_describe(got)}, but softmax gives "
        f"{_describe(expected)}. Each probability should be proportional to exp(logit)."
    )


def _explain_softmax_nan(case: Case, logits: np.ndarray, got: np.ndarray) -> str:
    """Explain where a nan in a softmax result comes from, looking at the first bad row."""
    rows_in, rows_out = np.atleast_2d(logits), np.atleast_2d(got)
    bad = int(np.flatnonzero(np.isnan(rows_out).any(axis=-1))[0])
    row = rows_in[bad]
    finite = row[np.isfinite(row)]
    where = f"For logits {_describe(row)}" if logits.ndim == 1 else (
        f"In the batch {_describe(logits)}, for row {bad} {_describe(row)}"
    )
    returned = f"{where} your function returned {_describe(rows_out[bad])}."
    if finite.size and finite.max() > 700:
        return (
            f"{returned} exp(1000) is too large for a float: it overflows to inf, and inf / inf "
            "is nan. Find a way to get the same probabilities without exponentiating such large numbers."
        )
    if finite.size and finite.max() < -700:
        return (
            f"{returned} exp(-1000) underflows to 0, so the sum is 0 and 0 / 0 is nan. The "
            "probabilities themselves are perfectly ordinary: find a way to compute them without "
            "exponentiating such small numbers."
        )
    if np.isneginf(row).any():
        return (
            f"{returned} A logit of -inf means 'this token is impossible': its probability must be "
            "exactly 0, and the other tokens must still get probabilities that sum to 1. Something "
            "in your computation turns -inf into nan (inf - inf and 0 * inf are nan)."
        )
    if logits.ndim == 2:
        return (
            f"{returned} That row's logits are ordinary, so something from another row leaked into "
            "its computation: each row is a separate distribution and must be computed from its "
            "own logits only."
        )
    return f"{returned} Look for an operation that produces nan (0 / 0, inf - inf, inf / inf)."


softmax_exercise = FunctionExercise(
    "softmax",
    reference=_softmax_reference,
    cases=_SOFTMAX_CASES,
    diagnose=_diagnose_softmax,
    question=(
        "Write softmax(logits): take a numpy array of logits (1-D, or 2-D with one row per "
        "sequence) and return probabilities of the same shape, normalised along the last axis. "
        "It must work for huge logits like [1000, 999], for -inf (a masked token) and for batches."
    ),
    hints=(
        "Start from the definition: p_i = exp(z_i) / sum_j exp(z_j). np.exp and .sum() do the work.",
        "Adding the same constant c to every logit does not change the result: "
        "exp(z_i - c) / sum_j exp(z_j - c) = exp(z_i) / sum_j exp(z_j). Which c keeps every "
        "exponent at most 0?",
        "For a batch, every reduction must run along the last axis and keep it, so it broadcasts "
        "back over each row: logits.max(axis=-1, keepdims=True), and the same for the sum.",
    ),
    solution=(
        "def softmax(logits):\n"
        "    logits = np.asarray(logits, dtype=float)\n"
        "    shifted = logits - logits.max(axis=-1, keepdims=True)  # largest exponent is 0\n"
        "    exps = np.exp(shifted)\n"
        "    return exps / exps.sum(axis=-1, keepdims=True)"
    ),
    praise="It survives overflow, -inf, ties and batches: this is how every library computes softmax.",
)

_LOGITS_ABC = np.array([2.0, 1.0, 0.1])
_P_ABC = sampling.softmax(_LOGITS_ABC)

first_token_probability_exercise = ValueExercise(
    "first_token_probability",
    expected=float(_P_ABC[0]),
    tolerance=0.002,
    question=(
        "Three tokens have logits A = 2.0, B = 1.0, C = 0.1. With pencil and a calculator (or numpy), "
        "what probability does softmax give token A? Answer as a number between 0 and 1, to three decimals."
    ),
    hints=(
        "Exponentiate each logit first: e^2.0, e^1.0 and e^0.1.",
        "Then divide e^2.0 by the sum of the three exponentials.",
    ),
    solution="np.exp(2.0) / (np.exp(2.0) + np.exp(1.0) + np.exp(0.1))",
    mistakes=(
        (
            float(_LOGITS_ABC[0] / _LOGITS_ABC.sum()),
            "That is 2.0 divided by the sum of the logits. Softmax exponentiates each logit before "
            "normalising, which is what makes every probability positive even for negative logits.",
        ),
        (
            float(np.exp(_LOGITS_ABC[0])),
            "That is e^2.0 on its own. It still has to be divided by the sum of all three exponentials.",
        ),
        (
            float(100 * _P_ABC[0]),
            "That looks like a percentage. Give the probability as a number between 0 and 1.",
        ),
        (1 / 3, "That is what three equal logits would give; here A's logit is the largest."),
    ),
    praise="Token A takes about two thirds of the probability, though its logit is only 1 higher than B's.",
)
