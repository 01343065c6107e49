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


# =============================================================================================
# Lesson 00 (start here): a warm-up that shows check / hint / solution
# =============================================================================================


class _VocabularySizeExercise(Exercise):
    """Guess the model's vocabulary size; feedback says how far off the guess is, by what factor.

    The expected value comes from the model itself, loaded only when ``check`` is called (the
    model is cached per kernel, so this is free once a notebook has loaded it).
    """

    def _problem(self, answer: Any) -> str | None:
        if isinstance(answer, bool) or not isinstance(answer, numbers.Real) or not np.isfinite(answer):
            return f"Your guess should be a whole number, like 1000; got {type(answer).__name__} {answer!r}."
        if answer != int(answer):
            return f"A vocabulary has a whole number of tokens; {answer!r} is not a whole number."
        from course_utils.model import load_model  # lazy: importing exercises must stay cheap

        expected = load_model().vocab_size
        guess = int(answer)
        if guess == expected:
            return None
        if guess <= 0:
            return "A vocabulary has at least one token: guess a positive number."
        factor = max(expected / guess, guess / expected)
        direction = "low" if guess < expected else "high"
        if factor < 1.5:
            return f"Close, but a little too {direction}. Try hint() to find the exact number."
        return f"Too {direction}, by more than a factor of {int(factor)}. Guess again, or try hint()."


lesson00_vocabulary = _VocabularySizeExercise(
    "vocabulary",
    question="How many different tokens does the course's model (SmolLM2-135M-Instruct) know?",
    hints=(
        "Tokens are pieces of words, not whole words: a vocabulary of a few thousand pieces could "
        "spell anything, but models use more so that common words are one token. Think tens of thousands.",
        "You do not have to guess: the model knows. `from course_utils.model import load_model`, "
        "then look at `load_model().vocab_size`.",
    ),
    solution=(
        "from course_utils.model import load_model\n"
        "model = load_model()\n"
        "exercises.lesson00_vocabulary.check(model.vocab_size)"
    ),
    praise="Every one of these tokens gets a score at every step of generation: that is lesson 01.",
)


# =============================================================================================
# Lesson 01 (logits)
# =============================================================================================


def _no_array(case: Case, got: Any) -> str | None:
    """The plain-words reason a result is not an array of numbers, or None if it is one."""
    if got is None or got is Ellipsis:
        return f"On {case.about}, your function returned {got!r}: did you forget `return` (or leave the `...` in)?"
    try:
        np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return f"On {case.about}, your function returned {_describe(got)}, which is not an array of numbers."
    return None


def _top_tokens_reference(logits, k):
    return np.argsort(np.asarray(logits), kind="stable")[::-1][:k]


_TOP_TOKENS_CASES = (
    Case((np.array([0.1, 2.0, -1.0, 3.5, 0.7]), 3), "five logits, k=3"),
    Case((np.array([0.1, 2.0, -1.0, 3.5, 0.7]), 1), "five logits, k=1"),
    Case((np.array([0.3, -0.2, 0.9]), 3), "k equal to the number of tokens"),
    Case((np.array([1.0, 5.0, 5.0, 2.0]), 2), "a tie for first place (either order is fine)"),
    Case((np.array([-np.inf, 0.5, -np.inf, 0.2]), 2), "masked tokens (logit -inf)"),
    Case(
        (np.random.default_rng(1).normal(0.0, 3.0, size=49152).astype(np.float32), 20),
        "a vocabulary-sized array of 49,152 random float32 logits, k=20",
    ),
)


def _diagnose_top_tokens(case: Case, expected: np.ndarray, got: Any) -> str | None:
    logits, k = case.args
    problem = _no_array(case, got)
    if problem:
        return problem
    got = np.asarray(got)
    if got.shape != (k,):
        return f"On {case.about}, you returned shape {got.shape}; expected a flat array of k = {k} indices."
    if got.dtype.kind not in "iu":
        top_values = np.sort(logits)[::-1][:k]
        if got.dtype.kind == "f" and np.allclose(np.sort(got), np.sort(top_values)):
            return f"On {case.about}, you returned the logit values themselves; return their indices (positions) instead."
        return f"On {case.about}, you returned {got.dtype} values; token indices are whole numbers."
    if got.min() < 0 or got.max() >= logits.size:
        return f"On {case.about}, some of your indices are outside the range 0..{logits.size - 1}."
    if len(set(got.tolist())) != k:
        return f"On {case.about}, the same index appears more than once: list each token once."
    chosen = logits[got]
    if not np.array_equal(np.sort(chosen)[::-1], logits[expected]):
        if np.isneginf(chosen).sum() > np.isneginf(logits[expected]).sum():
            return (
                f"On {case.about}, you picked masked tokens (logit -inf) over real ones: a masked "
                "token is the least likely of all, never a top token."
            )
        if np.array_equal(np.sort(chosen), np.sort(logits)[:k]):
            return f"On {case.about}, you returned the k *smallest* logits: np.argsort sorts from small to large."
        return f"On {case.about}, your indices do not pick the k largest logits."
    if np.any(np.diff(chosen) > 0):
        return (
            f"On {case.about}, you found the right tokens but not in order, largest first "
            "(np.argpartition, for example, does not sort what it finds)."
        )
    return None


lesson01_top_tokens = FunctionExercise(
    "top_tokens",
    reference=_top_tokens_reference,
    cases=_TOP_TOKENS_CASES,
    diagnose=_diagnose_top_tokens,
    question=(
        "Write top_tokens(logits, k): return the indices of the k largest logits, largest first. "
        "Ties may come in either order; masked tokens (-inf) are the least likely of all."
    ),
    hints=(
        "You need positions, not values: numpy has a function that returns the indices that would sort an array.",
        "np.argsort sorts from smallest to largest. How do you reverse an array, and then keep its first k entries?",
    ),
    solution="def top_tokens(logits, k):\n    return np.argsort(np.asarray(logits))[::-1][:k]",
    praise="That is the first step of every 'top tokens' plot, of top-k sampling, and of an API's top_logprobs.",
)


def _log_probs_reference(logits):
    return sampling.log_softmax(np.asarray(logits, dtype=np.float64), axis=-1)


_LOG_PROBS_CASES = (
    Case((np.array([1.0, 2.0, 3.0]),), "three ordinary logits"),
    Case((np.array([0.0, -800.0]),), "a very unlikely token (logits [0, -800])"),
    Case((np.array([1000.0, 999.0]),), "very large logits [1000, 999]"),
    Case((np.array([2.0, -np.inf, 1.0]),), "a masked token (a logit of -inf)"),
    Case((np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]]),), "a batch (a 2-D array, one row per sequence)"),
)


def _diagnose_log_probs(case: Case, expected: np.ndarray, got: Any) -> str | None:
    (logits,) = case.args
    problem = _no_array(case, got)
    if problem:
        return problem
    got = np.asarray(got, dtype=np.float64)
    if got.shape != expected.shape:
        return (
            f"On {case.about}, you returned shape {got.shape}; expected one log-probability per "
            f"logit, shape {expected.shape}."
        )
    if np.isnan(got).any():
        return (
            f"On {case.about}, your function returned {_describe(got)}: a nan means an inf - inf or "
            "0 / 0 happened somewhere. Which of your steps can overflow?"
        )
    masked = np.isneginf(expected)
    wrongly_infinite = np.isneginf(got) & ~masked
    if np.isneginf(got).all(axis=-1).any():
        return (
            f"On {case.about}, you returned {_describe(got)}: every token of a row came out -inf. "
            "A sum of exponentials overflowed to inf (exp(1000) is too large for a float), and "
            "z - inf is -inf. Can you keep every exponent small?"
        )
    if wrongly_infinite.any():
        return (
            f"On {case.about}, you returned -inf for a token whose probability is tiny but not zero "
            f"(its log-probability is {_describe(expected[wrongly_infinite])}). Computing p first and "
            "then np.log(p) loses it: p underflows to 0. Can you get log p without computing p?"
        )
    if not np.array_equal(np.isneginf(got), masked):
        return f"On {case.about}, a masked token (logit -inf) has probability 0, so its log-probability must stay -inf."
    if np.any(got > 1e-9):
        return f"On {case.about}, you returned {_describe(got)}: a log-probability is never above 0 (p is never above 1)."
    if np.allclose(got[~masked], expected[~masked], rtol=1e-7, atol=1e-9):
        return None
    if logits.ndim == 2:
        whole = logits - np.logaddexp.reduce(logits, axis=None)
        if np.allclose(got, whole, atol=1e-6):
            return (
                f"On {case.about}, you normalised over the whole batch at once; each row is its own "
                "distribution, so every max and sum must run along the last axis."
            )
    return (
        f"On {case.about}, you returned {_describe(got)}, but the log-probabilities are "
        f"{_describe(expected)}. Check that exp() of your answer sums to 1 (per row)."
    )


lesson01_log_probs = FunctionExercise(
    "log_probs",
    reference=_log_probs_reference,
    cases=_LOG_PROBS_CASES,
    diagnose=_diagnose_log_probs,
    question=(
        "Write log_probs(logits): the natural-log probability of every token, log p_i, for a 1-D "
        "array or a 2-D batch (one row per sequence). It must be exact where np.log(softmax(z)) "
        "fails: very unlikely tokens, very large logits, and masked (-inf) tokens."
    ),
    hints=(
        "Write the formula out: log p_i = log(exp(z_i) / sum_j exp(z_j)) = z_i - log(sum_j exp(z_j)). "
        "Only the second term needs care.",
        "log(sum_j exp(z_j)) overflows for huge logits. Subtract the largest logit m first: "
        "log(sum_j exp(z_j)) = m + log(sum_j exp(z_j - m)).",
        "For a batch, take the max and the sum along the last axis with keepdims=True so they "
        "broadcast back over each row.",
    ),
    solution=(
        "def log_probs(logits):\n"
        "    z = np.asarray(logits, dtype=float)\n"
        "    m = z.max(axis=-1, keepdims=True)\n"
        "    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))"
    ),
    praise=(
        "This is log_softmax, what an API's logprobs are made of; scipy calls the second term "
        "logsumexp, and PyTorch's log_softmax computes it exactly this way."
    ),
)


def _missing_mass_reference(top_logprobs):
    return 1.0 - float(np.exp(np.asarray(top_logprobs, dtype=np.float64)).sum())


_MISSING_MASS_CASES = (
    Case(([-0.2, -2.5, -4.0],), "three top_logprobs [-0.2, -2.5, -4.0]"),
    Case(([-0.2578, -2.73, -4.42, -4.61, -4.75],), "five top_logprobs, as an API returns them"),
    Case(([-0.0001],), "a single, nearly certain token"),
    Case((np.array([-1.2, -1.5, -1.9]),), "a numpy array of three logprobs"),
    Case(([],), "an empty list (top_logprobs=0 returns no alternatives)"),
)


def _diagnose_missing_mass(case: Case, expected: float, got: Any) -> str | None:
    (top,) = case.args
    if got is None or got is Ellipsis:
        return f"On {case.about}, your function returned {got!r}: did you forget `return` (or leave the `...` in)?"
    if isinstance(got, np.ndarray) and got.size == 1:
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, numbers.Real):
        return f"On {case.about}, you returned {_describe(got)}; expected a single number."
    got = float(got)
    if abs(got - expected) <= 1e-9:
        return None
    logprobs = np.asarray(top, dtype=np.float64)
    covered = float(np.exp(logprobs).sum())
    if abs(got - covered) <= 1e-9:
        return (
            f"On {case.about}, you returned the probability the listed tokens cover ({got:.4f}); "
            "the question asks for the probability of everything else."
        )
    if abs(got - (1.0 - logprobs.sum())) <= 1e-9 or abs(got - logprobs.sum()) <= 1e-9:
        return f"On {case.about}, you added the log-probabilities themselves; turn each one into a probability first."
    if abs(got - (1.0 - float(np.power(10.0, logprobs).sum()))) <= 1e-9:
        return f"On {case.about}: APIs report natural logarithms (base e), not base 10."
    if not 0.0 <= got <= 1.0:
        return f"On {case.about}, you returned {got:.4g}, which cannot be a probability: it must lie between 0 and 1."
    return f"On {case.about}, you returned {got:.6f}, which is not the probability of the unlisted tokens."


lesson01_missing_mass = FunctionExercise(
    "missing_mass",
    reference=_missing_mass_reference,
    cases=_MISSING_MASS_CASES,
    diagnose=_diagnose_missing_mass,
    question=(
        "An API returned the top_logprobs of one position (natural-log probabilities of the most "
        "likely tokens). Write missing_mass(top_logprobs): the probability that the next token is "
        "none of the listed ones."
    ),
    hints=(
        "Each logprob is log p. What undoes a natural logarithm?",
        "All tokens together have probability 1. Subtract what the listed tokens have.",
    ),
    solution="def missing_mass(top_logprobs):\n    return 1.0 - float(np.sum(np.exp(top_logprobs)))",
    praise="Now you can tell from any API response how much of the distribution it did not show you.",
)


# =============================================================================================
# Lesson 02 (softmax): exercises 1 and 2 are softmax_exercise and first_token_probability_exercise
# above; these two follow them
# =============================================================================================


def _is_pmf_reference(values):
    values = np.asarray(values, dtype=np.float64)
    return bool(
        values.size > 0 and np.all(np.isfinite(values)) and np.all(values >= 0) and abs(values.sum() - 1.0) <= 1e-6
    )


# 0.7 + 0.2 + 0.1 is not exactly 1.0 in binary floating point: a correct is_pmf must allow for it.
_ROUNDED_PMF = np.array([0.7, 0.2, 0.1])

_IS_PMF_CASES = (
    Case((np.array([0.2, 0.3, 0.5]),), "[0.2, 0.3, 0.5], a valid PMF"),
    Case((sampling.softmax([1.1, 0.5, 0.85, 0.97, 1.2, 0.3]),), "the six-token softmax from the lesson, a valid PMF"),
    Case((np.array([1.0]),), "[1.0], one certain token, a valid PMF"),
    Case(
        (_ROUNDED_PMF,),
        f"{_describe(_ROUNDED_PMF)}, a valid PMF whose floating-point sum is {float(_ROUNDED_PMF.sum())!r}, "
        "not exactly 1",
    ),
    Case((np.array([0.2, 0.3, 0.4]),), "[0.2, 0.3, 0.4], which sums to 0.9"),
    Case((np.array([1.2, -0.2]),), "[1.2, -0.2], which sums to 1 but has a negative value"),
    Case((np.array([2.0]),), "[2.0], a value above 1"),
    Case((np.array([np.nan, 1.0]),), "[nan, 1.0]"),
    Case((np.array([0.5, np.inf]),), "[0.5, inf]"),
    Case((np.array([]),), "an empty array, a distribution over nothing"),
    Case((np.full(4, 3.99),), "[3.99, 3.99, 3.99, 3.99], values a density may take"),
)


def _diagnose_is_pmf(case: Case, expected: bool, got: Any) -> str | None:
    if got is None or got is Ellipsis:
        return f"On {case.about}, your function returned {got!r}: did you forget `return` (or leave the `...` in)?"
    if not isinstance(got, (bool, np.bool_)):
        return f"On {case.about}, you returned {_describe(got)}; return True or False (bool(...) converts)."
    if bool(got) == expected:
        return None
    (values,) = case.args
    if expected:
        return f"On {case.about}, you said False, but it is a PMF. Is your test of the sum too strict?"
    if values.size == 0:
        return f"On {case.about}, you said True, but a PMF needs at least one outcome to give probability to."
    if not np.isfinite(values).all():
        return f"On {case.about}, you said True, but nan and inf are not probabilities: every value must be a finite number."
    if abs(values.sum() - 1.0) <= 1e-6:
        return f"On {case.about}, you said True: the sum is right, but every value must also be a probability."
    return f"On {case.about}, you said True, but the values do not sum to 1."


lesson02_is_pmf = FunctionExercise(
    "is_pmf",
    reference=_is_pmf_reference,
    cases=_IS_PMF_CASES,
    diagnose=_diagnose_is_pmf,
    question=(
        "Write is_pmf(values): True if the array is a valid probability mass function over tokens, "
        "False otherwise. Floating-point sums are rarely exactly 1: allow a tolerance of 1e-6."
    ),
    hints=(
        "List what every PMF satisfies: what must be true of each value, and of their sum?",
        "Each value must be a finite number between 0 and 1, and the values must sum to 1 within "
        "1e-6. An empty array is not a distribution. np.all and np.isfinite help.",
    ),
    solution=(
        "def is_pmf(values):\n"
        "    values = np.asarray(values, dtype=float)\n"
        "    return bool(\n"
        "        values.size > 0\n"
        "        and np.all(np.isfinite(values))\n"
        "        and np.all(values >= 0)\n"
        "        and abs(values.sum() - 1.0) <= 1e-6\n"
        "    )"
    ),
    praise="Non-negative, finite, summing to 1: every softmax output passes, and nothing else needs to.",
)


_P_LEAD = 0.9
_LOGIT_GAP = float(np.log(_P_LEAD / (1 - _P_LEAD)))


class _LogitGapExercise(ValueExercise):
    """A ValueExercise whose fallback message says what the learner's gap would give instead."""

    def _problem(self, answer: Any) -> str | None:
        problem = super()._problem(answer)
        if problem is None or not problem.endswith("Try hint() if you are stuck."):
            return problem
        gap = float(np.asarray(answer))
        if gap <= 0:
            return "The first token must be the more likely one, so its logit is the larger: the gap is positive."
        p = float(sampling.softmax([gap, 0.0])[0])
        return f"With a gap of {gap:g}, softmax gives the first token p = {p:.4f}, not {_P_LEAD}. Try hint() if you are stuck."


lesson02_logit_gap = _LogitGapExercise(
    "logit_gap",
    expected=_LOGIT_GAP,
    tolerance=1e-3,
    question=(
        f"Two tokens compete. How much larger must the first token's logit be than the second's "
        f"for softmax to give the first probability {_P_LEAD}?"
    ),
    hints=(
        "With two tokens, p_a / p_b = e^(z_a - z_b): only the gap matters.",
        f"If p_a = {_P_LEAD}, then p_b = {1 - _P_LEAD:g}. What is their ratio, and which function undoes e^x?",
    ),
    solution=f"logit_gap = np.log({_P_LEAD} / (1 - {_P_LEAD}))",
    mistakes=(
        (_P_LEAD, f"{_P_LEAD} is the probability itself; the question asks how far apart the two logits are."),
        (_P_LEAD / (1 - _P_LEAD), "That is the ratio p_a / p_b (the odds). Logits differ by the logarithm of that ratio."),
        (
            float(np.log10(_P_LEAD / (1 - _P_LEAD))),
            "Close: softmax uses e^z, so the logarithm is the natural one (np.log), not base 10.",
        ),
        (float(np.log(_P_LEAD)), "That is log p_a alone; the gap compares the two tokens: think of p_a / p_b."),
    ),
    praise=(
        f"A logit gap of {_LOGIT_GAP:.2f} means odds of {_P_LEAD / (1 - _P_LEAD):.0f} to 1; "
        "every extra unit of gap multiplies the odds by e."
    ),
)


# ============================================================================================
# Lesson 03 (temperature)
# ============================================================================================


def _returned_nothing(case: Case, got: Any) -> str | None:
    """The message for a function that still has its placeholder body (or forgot `return`)."""
    if got is None:
        return (
            f"On {case.about}, your function returned None. Replace the placeholder `...` with "
            "your code, and make sure the function ends with a `return`."
        )
    return None


def _temperature_softmax_reference(logits, temperature):
    return sampling.softmax(np.asarray(logits, dtype=np.float64), temperature=temperature)


_TEMPERATURE_CASES = (
    Case((np.array([2.0, 1.0, 0.1]), 1.0), "logits [2.0, 1.0, 0.1] at temperature 1"),
    Case((np.array([2.0, 1.0, 0.1]), 0.5), "logits [2.0, 1.0, 0.1] at temperature 0.5"),
    Case((np.array([2.0, 1.0, 0.1]), 2.0), "logits [2.0, 1.0, 0.1] at temperature 2"),
    Case((np.array([1.5, 1.5, 1.5]), 0.3), "a tie (three equal logits) at temperature 0.3"),
    Case((np.array([0.0, -np.inf, 1.0]), 0.7), "a masked token (a logit of -inf) at temperature 0.7"),
    Case((np.array([10.0, 9.0, 7.5]), 0.01), "ordinary logits [10, 9, 7.5] at a tiny temperature, 0.01"),
    Case((np.array([1000.0, 999.0]), 2.0), "very large logits [1000, 999] at temperature 2"),
)


def _diagnose_temperature_softmax(case: Case, expected: np.ndarray, got: Any) -> str | None:
    if (nothing := _returned_nothing(case, got)) is not None:
        return nothing
    logits, t = case.args
    shown = f"logits {_describe(logits)} at temperature {t:g}"
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return f"For {shown}, your function returned {got!r}, which is not an array of numbers."
    if got.shape != expected.shape:
        return (
            f"For {shown}, your function returned shape {got.shape} instead of {expected.shape}: "
            "one probability per logit."
        )
    if np.isnan(got).any():
        scaled = logits[np.isfinite(logits)] / t
        if scaled.max() > 700:
            return (
                f"For {shown}, your function returned {_describe(got)}. Dividing by a small "
                f"temperature makes the logits huge ({scaled.max():g} here) and exp() of that "
                "overflows to inf; inf / inf is nan. Lesson 02's trick still works after dividing by T."
            )
        return (
            f"For {shown}, your function returned {_describe(got)}. A -inf logit must give "
            "probability exactly 0; look for an operation that turns it into nan (inf - inf, 0 * inf)."
        )
    if np.allclose(got, expected, rtol=1e-6, atol=1e-12):
        return None
    finite = np.isfinite(logits)
    if t != 1.0 and np.allclose(got, sampling.softmax(np.where(finite, logits * t, -np.inf)), atol=1e-9):
        return (
            f"For {shown}, your probabilities are {'sharper' if t > 1 else 'flatter'} than at "
            f"temperature 1, but a temperature {'above' if t > 1 else 'below'} 1 should make them "
            f"{'flatter' if t > 1 else 'sharper'}. Are you multiplying the logits by T instead of dividing?"
        )
    if t != 1.0 and np.allclose(got, sampling.softmax(logits), atol=1e-9):
        return (
            f"For {shown}, your function returned the temperature-1 probabilities {_describe(got)}: "
            "the temperature has no effect. Divide the logits by it before the softmax."
        )
    if not np.isclose(got.sum(), 1.0):
        return (
            f"For {shown}, your probabilities sum to {got.sum():.6g}, not 1. "
            "Whatever you do to the logits, normalise at the end."
        )
    return f"For {shown}, your function returned {_describe(got)}, but the right probabilities are {_describe(expected)}."


temperature_softmax_exercise = FunctionExercise(
    "softmax_t",
    reference=_temperature_softmax_reference,
    cases=_TEMPERATURE_CASES,
    diagnose=_diagnose_temperature_softmax,
    question=(
        "Write softmax_t(logits, temperature): a 1-D array of logits and a temperature T > 0 in, "
        "the probabilities exp(z_i / T) / sum_j exp(z_j / T) out. It must survive huge logits, "
        "tiny temperatures, -inf (a masked token) and ties. Do not call course_utils.sampling."
    ),
    hints=(
        "Temperature comes first: divide every logit by T, then take an ordinary softmax of the result.",
        "Dividing by T = 0.01 multiplies the logits by 100, so exp() can overflow even for ordinary "
        "logits. Lesson 02's fix applies to the scaled logits: subtract their maximum before exp().",
        "np.asarray(logits, dtype=float) / temperature, then subtract .max(), np.exp, divide by the sum. "
        "-inf stays -inf through all of that, and exp(-inf) is exactly 0.",
    ),
    solution=(
        "def softmax_t(logits, temperature):\n"
        "    scaled = np.asarray(logits, dtype=float) / temperature\n"
        "    exps = np.exp(scaled - scaled.max())  # the largest exponent is 0: no overflow\n"
        "    return exps / exps.sum()"
    ),
    praise="Divide, shift, exponentiate, normalise: every library's temperature in four steps.",
)

_P_TARGET = 0.9


def _temperature_for_target() -> float:
    """The T at which token A of the A/B/C example gets probability _P_TARGET, by bisection."""
    low, high = 1e-3, 1.0  # P(A) falls as T rises: above the target at `low`, below at `high`
    for _ in range(80):
        mid = (low + high) / 2
        if sampling.softmax(_LOGITS_ABC, temperature=mid)[0] > _P_TARGET:
            low = mid
        else:
            high = mid
    return (low + high) / 2


class _TemperatureForTargetExercise(ValueExercise):
    """A ValueExercise that, for a wrong temperature, says whether it is too hot or too cold."""

    def _problem(self, answer: Any) -> str | None:
        problem = super()._problem(answer)
        if problem is None or not problem.endswith("Try hint() if you are stuck."):
            return problem
        t = float(np.asarray(answer).item())
        if t <= 0:
            return f"A temperature must be positive; {t:g} is not. P(A) falls as T rises, so search between 0 and 1."
        p_a = sampling.softmax(_LOGITS_ABC, temperature=t)[0]
        direction = "too hot: try a lower T" if p_a < _P_TARGET else "too cold: try a higher T"
        return f"At T = {t:g}, token A gets {p_a:.4f}, not {_P_TARGET}. That is {direction}."


_T_TARGET = _temperature_for_target()

temperature_for_target_exercise = _TemperatureForTargetExercise(
    "temperature_for_target",
    expected=_T_TARGET,
    tolerance=0.001,
    question=(
        "In the A/B/C example (logits [2.0, 1.0, 0.1]) find the temperature at which token A gets "
        "exactly 90% of the probability, to 3 decimals."
    ),
    hints=(
        "At T = 1, A gets about two thirds. To give it more, make the distribution sharper: T < 1.",
        "P(A) only falls as T rises, so you can search: try a T, compute softmax(z, temperature=T)[0], "
        "and move T down if P(A) is below 0.9, up if it is above.",
        "Bisection: keep an interval [low, high] with P(A) > 0.9 at low and < 0.9 at high, and halve "
        "it 30 times around its midpoint.",
    ),
    solution=(
        "z = [2.0, 1.0, 0.1]\n"
        "low, high = 0.01, 1.0\n"
        "for _ in range(40):\n"
        "    mid = (low + high) / 2\n"
        "    if softmax(z, temperature=mid)[0] > 0.9:\n"
        "        low = mid\n"
        "    else:\n"
        "        high = mid\n"
        "T_for_90 = round(mid, 3)"
    ),
    mistakes=(
        (
            1 / _T_TARGET,
            "That is 1/T, the factor the logits are multiplied by. The temperature is the number "
            "you divide them by.",
        ),
    ),
    praise="Exactly: a temperature a bit below 0.5 turns A's two thirds into nine tenths.",
)


def _effective_choices_reference(probs):
    return float(2.0 ** sampling.entropy(np.asarray(probs, dtype=np.float64)))


_EFFECTIVE_CHOICES_CASES = (
    Case((np.array([0.25, 0.25, 0.25, 0.25]),), "a uniform distribution over 4 tokens"),
    Case((np.array([0.5, 0.25, 0.25]),), "the distribution [0.5, 0.25, 0.25]"),
    Case((np.array([1.0, 0.0, 0.0]),), "a certain token (the others have probability 0)"),
    Case((np.array([0.5, 0.5, 0.0, 0.0]),), "a fair coin among four tokens, two of them impossible"),
    Case((_P_ABC,), "the A/B/C probabilities at temperature 1"),
)


def _diagnose_effective_choices(case: Case, expected: float, got: Any) -> str | None:
    if (nothing := _returned_nothing(case, got)) is not None:
        return nothing
    (probs,) = case.args
    shown = _describe(probs)
    try:
        value = float(np.asarray(got, dtype=np.float64).item())
    except (TypeError, ValueError):
        return f"For probs {shown}, your function returned {got!r}; it should return a single number."
    if np.isnan(value):
        return (
            f"For probs {shown}, your function returned nan. A zero probability gives 0 * log(0) = "
            "0 * -inf = nan in numpy, but its contribution to the entropy is 0 (the limit of p log p "
            "as p -> 0). Leave zero probabilities out of the sum."
        )
    if np.isclose(value, expected, rtol=1e-6):
        return None
    h_bits = float(sampling.entropy(probs))
    if np.isclose(value, h_bits, rtol=1e-6):
        return f"For probs {shown}, you returned the entropy H = {value:.4g} bits itself. The effective number of choices is 2 to the power H."
    if np.isclose(value, np.exp(h_bits), rtol=1e-6):
        return (
            f"For probs {shown}, you returned {value:.4g}: e to the power of the entropy in bits. "
            "Bits and 2**H go together (or nats, np.log, and np.exp(H)); mixing them is off by a factor."
        )
    if np.isclose(value, 2.0 ** -h_bits, rtol=1e-6):
        return f"For probs {shown}, you returned {value:.4g}, which is below 1. Check the sign of the entropy: H = -sum p log2 p is never negative."
    return f"For probs {shown}, your function returned {value:.4g}; the effective number of choices is {expected:.4g}."


effective_choices_exercise = FunctionExercise(
    "effective_choices",
    reference=_effective_choices_reference,
    cases=_EFFECTIVE_CHOICES_CASES,
    diagnose=_diagnose_effective_choices,
    question=(
        "Write effective_choices(probs): the number 2**H, where H = -sum_i p_i log2 p_i is the "
        "entropy in bits of a 1-D probability vector. Zero probabilities contribute 0 (0 log 0 = 0)."
    ),
    hints=(
        "Check yourself on two cases you know: a uniform distribution over 4 tokens must give 4, "
        "a certain token must give 1.",
        "np.log2(0) is -inf and 0 * -inf is nan. Keep only the non-zero probabilities: p = p[p > 0].",
    ),
    solution=(
        "def effective_choices(probs):\n"
        "    p = np.asarray(probs, dtype=float)\n"
        "    p = p[p > 0]                    # 0 log 0 = 0: zero-probability tokens add nothing\n"
        "    return 2 ** -(p * np.log2(p)).sum()"
    ),
    praise="A uniform choice among k tokens gives exactly k: that is why 2**H reads as 'how many real options'.",
)


# ============================================================================================
# Lesson 04 (top-k, top-p, min-p, and the order of the chain)
# ============================================================================================


def _tokens(n: int) -> str:
    return f"{n} token" if n == 1 else f"{n} tokens"


def _kept(filtered_logits: np.ndarray) -> np.ndarray:
    return np.isfinite(filtered_logits)


def _top_p_keep_reference(probs, top_p):
    with np.errstate(divide="ignore"):
        return _kept(sampling.top_p_filter(np.log(np.asarray(probs, dtype=np.float64)), top_p))


def _min_p_keep_reference(probs, min_p):
    with np.errstate(divide="ignore"):
        return _kept(sampling.min_p_filter(np.log(np.asarray(probs, dtype=np.float64)), min_p))


_TWELVE = sampling.softmax(np.array([1.2, 3.1, 0.4, 2.2, -0.5, 2.9, 0.0, 1.7, -1.3, 2.5, 0.9, -2.0]))

_TOP_P_CASES = (
    Case((np.array([0.5, 0.3, 0.15, 0.05]), 0.7), "sorted probabilities [0.5, 0.3, 0.15, 0.05] with top_p = 0.7"),
    Case((np.array([0.05, 0.3, 0.5, 0.15]), 0.7), "the same probabilities, unsorted, with top_p = 0.7"),
    Case((np.array([0.15, 0.05, 0.5, 0.3]), 0.1), "a tiny top_p = 0.1 (below the top token's probability)"),
    Case((np.array([0.2, 0.7, 0.1]), 0.95), "probabilities [0.2, 0.7, 0.1] with top_p = 0.95"),
    Case((np.array([0.01, 0.02, 0.9, 0.03, 0.04]), 1.0), "top_p = 1.0 (nothing should be removed)"),
    Case((_TWELVE, 0.9), "twelve tokens with top_p = 0.9"),
)


def _boolean_mask(case: Case, got: Any, what: str) -> np.ndarray | str:
    probs = case.args[0]
    mask = np.asarray(got)
    if mask.shape != probs.shape or mask.dtype != bool:
        return (
            f"On {case.about}, your function returned {_describe(mask)} (dtype {mask.dtype}, shape "
            f"{mask.shape}). It should return a boolean array with one True/False per token: True "
            f"for the tokens {what} keeps."
        )
    return mask


def _same_kept_set(probs: np.ndarray, got: np.ndarray, expected: np.ndarray) -> bool:
    """Equal masks, or masks that differ only in which of several equally likely tokens they keep."""
    return bool(np.array_equal(got, expected)) or (
        got.sum() == expected.sum() and np.array_equal(np.sort(probs[got]), np.sort(probs[expected]))
    )


def _diagnose_top_p(case: Case, expected: np.ndarray, got: Any) -> str | None:
    if (nothing := _returned_nothing(case, got)) is not None:
        return nothing
    probs, top_p = case.args
    mask = _boolean_mask(case, got, "the nucleus")
    if isinstance(mask, str):
        return mask
    if _same_kept_set(probs, mask, expected):
        return None
    n_got, n_right = int(mask.sum()), int(expected.sum())
    kept_mass = float(probs[mask].sum())
    if n_got == 0:
        return f"On {case.about}, your function kept no token at all. Sampling needs at least one: the most likely token is always kept."
    prefix = np.zeros_like(mask)
    prefix[: n_got] = True
    order = np.argsort(-probs, kind="stable")
    if not np.array_equal(order[:n_got], np.flatnonzero(mask)) and np.array_equal(mask, prefix):
        return (
            f"On {case.about}, you kept the first {n_got} tokens in the order they were given. The "
            "nucleus is made of the *most likely* tokens, whatever their position: sort by "
            "probability first (np.argsort(-probs)), then map the result back to the original positions."
        )
    if n_got == n_right - 1 and kept_mass < top_p:
        return (
            f"On {case.about}, you kept {_tokens(n_got)} holding {kept_mass:.4g}, which is less than "
            f"top_p = {top_p}. The token that crosses the line belongs to the nucleus: keep a token "
            "if the tokens ranked *above* it hold less than top_p."
        )
    if n_got > n_right and kept_mass >= top_p:
        return (
            f"On {case.about}, you kept {_tokens(n_got)} holding {kept_mass:.4g}. A smaller set of the "
            f"most likely tokens already reaches top_p = {top_p}: top-p keeps the *smallest* such set."
        )
    return (
        f"On {case.about}, you kept {_tokens(n_got)} holding {kept_mass:.4g}. Keep the smallest set of "
        f"most likely tokens whose probabilities add up to at least top_p = {top_p}."
    )


top_p_keep_exercise = FunctionExercise(
    "top_p_keep",
    reference=_top_p_keep_reference,
    cases=_TOP_P_CASES,
    diagnose=_diagnose_top_p,
    question=(
        "Write top_p_keep(probs, top_p): for a 1-D probability vector (in any order) and "
        "0 < top_p <= 1, return a boolean array that is True for the tokens nucleus sampling keeps: "
        "the smallest set of most likely tokens whose probabilities add up to at least top_p "
        "(and never fewer than one token)."
    ),
    hints=(
        "Work in sorted order: order = np.argsort(-probs) lists token indices from most to least likely.",
        "For each token in that order, how much probability do the tokens ranked above it hold? "
        "np.cumsum(sorted_probs) - sorted_probs. A token stays if that is still below top_p; "
        "this keeps the token that crosses the line, and always keeps the first.",
        "Build keep = np.zeros(len(probs), dtype=bool) and set keep[order[stays]] = True to go back "
        "from sorted positions to the original ones.",
    ),
    solution=(
        "def top_p_keep(probs, top_p):\n"
        "    probs = np.asarray(probs, dtype=float)\n"
        "    order = np.argsort(-probs, kind='stable')      # most likely first\n"
        "    sorted_probs = probs[order]\n"
        "    mass_above = np.cumsum(sorted_probs) - sorted_probs\n"
        "    keep = np.zeros(len(probs), dtype=bool)\n"
        "    keep[order[mass_above < top_p]] = True         # the crossing token stays\n"
        "    return keep"
    ),
    praise="That is Hugging Face's TopPLogitsWarper, in probability space.",
)

_MIN_P_CASES = (
    Case((np.array([0.5, 0.3, 0.15, 0.05]), 0.2), "probabilities [0.5, 0.3, 0.15, 0.05] with min_p = 0.2"),
    Case((np.array([0.03, 0.9, 0.05, 0.02]), 0.05), "a confident distribution, unsorted, with min_p = 0.05"),
    Case((np.array([0.26, 0.25, 0.25, 0.24]), 0.5), "a flat distribution with min_p = 0.5"),
    Case((np.array([0.5, 0.25, 0.125, 0.125]), 0.25), "tokens exactly at the threshold (0.25 x 0.5 = 0.125)"),
    Case((_TWELVE, 0.1), "twelve tokens with min_p = 0.1"),
)


def _diagnose_min_p(case: Case, expected: np.ndarray, got: Any) -> str | None:
    if (nothing := _returned_nothing(case, got)) is not None:
        return nothing
    probs, min_p = case.args
    mask = _boolean_mask(case, got, "min-p")
    if isinstance(mask, str):
        return mask
    if np.array_equal(mask, expected):
        return None
    if np.array_equal(mask, probs > min_p * probs.max()):
        return (
            f"On {case.about}, you dropped tokens whose probability equals the threshold exactly. "
            "Min-p keeps every token with p >= min_p * max(p): at least, not more than."
        )
    if np.array_equal(mask, probs >= min_p) or np.array_equal(mask, probs > min_p):
        return (
            f"On {case.about}, you compared each probability with min_p = {min_p} itself. Min-p is "
            "relative: the threshold is min_p times the probability of the most likely token, so it "
            "rises when the model is confident and falls when it is not."
        )
    if not mask.any():
        return f"On {case.about}, your function kept no token. The most likely token always passes: p_max >= min_p * p_max."
    return (
        f"On {case.about}, you kept {_tokens(int(mask.sum()))}, but {int(expected.sum())} have a "
        f"probability of at least min_p x max(p) = {min_p * probs.max():.4g}."
    )


min_p_keep_exercise = FunctionExercise(
    "min_p_keep",
    reference=_min_p_keep_reference,
    cases=_MIN_P_CASES,
    diagnose=_diagnose_min_p,
    question=(
        "Write min_p_keep(probs, min_p): for a 1-D probability vector and 0 <= min_p <= 1, return a "
        "boolean array that is True for every token with p_i >= min_p * max_j p_j."
    ),
    hints=(
        "The threshold is not min_p: it is min_p times the largest probability.",
        "One comparison does it for every token at once: probs >= threshold.",
    ),
    solution=(
        "def min_p_keep(probs, min_p):\n"
        "    probs = np.asarray(probs, dtype=float)\n"
        "    return probs >= min_p * probs.max()"
    ),
    praise="One line, no sorting: that is why min-p is cheap as well as adaptive.",
)

_CHAIN_LOGITS = np.array([3.0, 2.5, 2.0, 1.0, 0.5, 0.0])
_CHAIN_TEMPERATURE = 2.0
_CHAIN_TOP_P = 0.8


def _survivors(order: str, temperature: float = _CHAIN_TEMPERATURE) -> int:
    final = sampling.next_token_distribution(
        _CHAIN_LOGITS, temperature=temperature, top_p=_CHAIN_TOP_P, order=order
    )
    return int((final > 0).sum())


def _nucleus_size_without_crossing_token(temperature: float) -> int:
    return int((np.cumsum(sampling.softmax(_CHAIN_LOGITS, temperature=temperature)) < _CHAIN_TOP_P).sum())


class _ChainOrderExercise(Exercise):
    """The learner answers with a pair of counts: survivors in transformers' and llama.cpp's order."""

    def __init__(self, name: str, **kwargs):
        super().__init__(name, **kwargs)
        self.expected = (_survivors("transformers"), _survivors("llama.cpp"))

    def _problem(self, answer: Any) -> str | None:
        try:
            pair = tuple(answer)
        except TypeError:
            pair = ()
        if len(pair) != 2 or any(
            isinstance(n, bool) or not isinstance(n, numbers.Real) or not float(n).is_integer()
            for n in pair
        ):
            return (
                "Answer with a tuple of two whole numbers, (n_transformers, n_llamacpp); "
                f"got {answer!r}."
            )
        n_hf, n_cpp = (int(n) for n in pair)
        right_hf, right_cpp = self.expected
        if (n_hf, n_cpp) == (right_hf, right_cpp):
            return None
        if (n_hf, n_cpp) == (right_cpp, right_hf):
            return (
                "You have the two numbers the wrong way round: transformers applies temperature "
                "first, llama.cpp last."
            )
        without_crossing = (
            _nucleus_size_without_crossing_token(_CHAIN_TEMPERATURE),
            _nucleus_size_without_crossing_token(1.0),
        )
        if (n_hf, n_cpp) == without_crossing:
            return (
                "Both counts leave out the token whose probability carries the cumulative sum past "
                "0.8. Top-p keeps that token: the kept set is the smallest one that *reaches* top_p."
            )
        messages = []
        if n_hf != right_hf:
            if n_hf == _survivors("llama.cpp"):
                messages.append(
                    "For transformers, the nucleus is measured *after* temperature: take the "
                    "cumulative sums of softmax(z / 2), not of softmax(z)."
                )
            elif n_hf == _nucleus_size_without_crossing_token(_CHAIN_TEMPERATURE):
                messages.append(
                    "Your transformers count leaves out the token whose probability carries the "
                    "cumulative sum past 0.8; top-p keeps that token."
                )
            else:
                messages.append("Your transformers count is off: temperature first, then top-p on softmax(z / 2).")
        if n_cpp != right_cpp:
            if n_cpp == _survivors("transformers"):
                messages.append(
                    "For llama.cpp, top-p runs *before* temperature, on the T = 1 distribution "
                    "softmax(z); temperature only reshapes the survivors."
                )
            elif n_cpp == _nucleus_size_without_crossing_token(1.0):
                messages.append(
                    "Your llama.cpp count leaves out the token that carries the cumulative sum past "
                    "0.8; top-p keeps that token."
                )
            else:
                messages.append("Your llama.cpp count is off: top-p first, on softmax(z) at T = 1.")
        return " ".join(messages)


chain_order_exercise = _ChainOrderExercise(
    "chain_order_count",
    question=(
        "Logits z = [3.0, 2.5, 2.0, 1.0, 0.5, 0.0], temperature = 2.0, top_p = 0.8. How many tokens "
        "survive in transformers' order (temperature first) and in llama.cpp's order (temperature "
        "last)? Answer (n_transformers, n_llamacpp)."
    ),
    hints=(
        "Both orders keep the smallest set of most likely tokens whose mass reaches 0.8. They "
        "differ in which distribution that mass is measured on.",
        "transformers: np.cumsum(softmax(z, temperature=2.0)). llama.cpp: np.cumsum(softmax(z)). "
        "In each, count the tokens up to and including the first cumulative sum >= 0.8.",
    ),
    solution=(
        "z = [3.0, 2.5, 2.0, 1.0, 0.5, 0.0]\n"
        "def nucleus_size(probs, top_p=0.8):\n"
        "    return int(np.searchsorted(np.cumsum(probs), top_p) + 1)  # includes the crossing token\n"
        "answer = (nucleus_size(softmax(z, temperature=2.0)), nucleus_size(softmax(z)))"
    ),
    praise=(
        "Heating first spreads the mass, so the nucleus needs more tokens; measuring at T = 1 keeps "
        "it small, whatever the temperature does afterwards."
    ),
)

__all__ += [
    "temperature_softmax_exercise",
    "temperature_for_target_exercise",
    "effective_choices_exercise",
    "top_p_keep_exercise",
    "min_p_keep_exercise",
    "chain_order_exercise",
]


# ============================================================================================
# Lesson 05 (generation: the autoregressive loop, perplexity)
# ============================================================================================


def _perplexity_reference(probs):
    from course_utils.degeneration import perplexity

    return perplexity(np.log(np.asarray(probs, dtype=np.float64)))


_PERPLEXITY_CASES = (
    Case((np.array([0.25, 0.25, 0.25, 0.25]),), "four tokens that each had probability 1/4"),
    Case((np.array([0.5, 0.125]),), "two tokens with probabilities 1/2 and 1/8"),
    Case((np.array([1.0, 1.0, 1.0]),), "three tokens the model was certain of"),
    Case((np.array([0.9, 0.6, 0.3, 0.05]),), "four tokens with probabilities [0.9, 0.6, 0.3, 0.05]"),
    Case((np.full(400, 0.01),), "a 400-token text where every token had probability 0.01"),
)


def _diagnose_perplexity(case: Case, expected: float, got: Any) -> str | None:
    if (nothing := _returned_nothing(case, got)) is not None:
        return nothing
    (probs,) = case.args
    shown = case.about
    try:
        value = float(np.asarray(got, dtype=np.float64).item())
    except (TypeError, ValueError):
        return f"For {shown}, your function returned {got!r}; it should return a single number."
    if np.isclose(value, expected, rtol=1e-6):
        return None
    if not np.isfinite(value) or value == 0:
        return (
            f"For {shown}, your function returned {value}. Multiplying 400 probabilities of 0.01 "
            "gives 1e-800, which a float cannot hold: it underflows to 0, and 0 ** (-1/N) is inf. "
            "Work with logarithms: the log of a product is the sum of the logs, which never underflows."
        )
    n = probs.size
    log_p = np.log(probs)
    if np.isclose(value, 1.0 / expected, rtol=1e-6):
        return (
            f"For {shown}, you returned {value:.4g}, the reciprocal of the perplexity. Check the sign: "
            "perplexity is exp of the *negative* mean log-probability, so it is never below 1."
        )
    if np.isclose(value, float(np.exp(-log_p.sum())), rtol=1e-6):
        return (
            f"For {shown}, you returned exp(-sum of log p) = {value:.4g}. Divide by the number of "
            "tokens first: perplexity uses the *mean* log-probability, so a longer text is not "
            "automatically more perplexing."
        )
    if np.isclose(value, 1.0 / probs.mean(), rtol=1e-6):
        return (
            f"For {shown}, you returned 1 / (mean probability) = {value:.4g}. Perplexity averages "
            "the *log*-probabilities (a geometric mean), so one very unlikely token weighs heavily."
        )
    if np.isclose(value, -log_p.mean(), rtol=1e-6):
        return (
            f"For {shown}, you returned the mean negative log-probability ({value:.4g} nats, the "
            "cross-entropy). Perplexity is e to the power of that."
        )
    if n > 1 and np.isclose(value, float(np.exp(-log_p.sum() / (n - 1))), rtol=1e-6):
        return f"For {shown}, you divided by N - 1 = {n - 1}; there are N = {n} tokens."
    return f"For {shown}, your function returned {value:.4g}; the perplexity is {expected:.4g}."


perplexity_exercise = FunctionExercise(
    "perplexity",
    reference=_perplexity_reference,
    cases=_PERPLEXITY_CASES,
    diagnose=_diagnose_perplexity,
    question=(
        "Write perplexity(probs): given the probability the model gave each token of a text "
        "(a 1-D array, every value in (0, 1]), return exp(-(1/N) * sum_i log p_i)."
    ),
    hints=(
        "Test yourself on a case you can do in your head: four tokens of probability 1/4 each must "
        "give 4 -- 'as unsure as a fair choice among 4 tokens'.",
        "Do not multiply the probabilities: for a long text the product underflows to 0. Take "
        "np.log of the probabilities, average, negate, then np.exp.",
    ),
    solution=(
        "def perplexity(probs):\n"
        "    log_p = np.log(np.asarray(probs, dtype=float))\n"
        "    return float(np.exp(-log_p.mean()))"
    ),
    praise=(
        "Perplexity is 'the number of equally likely choices the model was torn between', on "
        "average: 1 means certain, 4 means a fair four-way choice."
    ),
)


# Prompts for the greedy-loop check: an ordinary one, and a chat reply the instruct model ends
# after a few tokens (so the learner's loop must stop at the end-of-sequence token).
_GREEDY_CASES = (
    ("The capital of France is", 6, "the prompt 'The capital of France is'"),
    ("Once upon a time", 10, "the prompt 'Once upon a time'"),
    (None, 40, "a chat prompt the model answers in a few tokens, then ends"),
)
_GREEDY_CHAT_QUESTION = "Answer with one word: what colour is the sky on a clear day?"


class _GreedyLoopExercise(Exercise):
    """The learner writes the autoregressive loop; it must match ``generate(temperature=0)``."""

    def _cases(self, model):
        for prompt, max_new_tokens, about in _GREEDY_CASES:
            yield (model.chat_prompt(_GREEDY_CHAT_QUESTION) if prompt is None else prompt), max_new_tokens, about

    def _problem(self, answer: Any) -> str | None:
        from course_utils.generation import generate
        from course_utils.model import load_model

        if not callable(answer):
            return (
                "check() expects your function itself, e.g. check(greedy_generate) without "
                f"parentheses; got {type(answer).__name__} {_describe(answer)}."
            )
        model = load_model()
        for prompt, max_new_tokens, about in self._cases(model):
            reference = generate(model, prompt, max_new_tokens=max_new_tokens, temperature=0)
            # generate() records a final end-of-sequence token; the learner's loop stops before it.
            expected = [t for t in reference.token_ids if t not in model.eos_ids]
            prompt_ids = model.encode(prompt)
            try:
                got = answer(model, prompt, max_new_tokens)
            except Exception as error:  # the learner's bug, reported in words
                return f"On {about}, your function raised {type(error).__name__}: {error}."
            problem = self._compare(model, about, prompt_ids, max_new_tokens, expected, got)
            if problem is not None:
                return problem
        return None

    @staticmethod
    def _compare(model, about, prompt_ids, max_new_tokens, expected, got) -> str | None:
        if isinstance(got, str):
            return (
                f"On {about}, your function returned text ({got[:40]!r}). Return the list of new "
                "token ids; model.decode(ids) turns them into text when you want to read them."
            )
        try:
            got = [int(t) for t in got]
        except (TypeError, ValueError):
            return f"On {about}, your function returned {_describe(got)}; return a list of token ids (ints)."
        if got[: len(prompt_ids)] == prompt_ids and len(got) > len(expected):
            return (
                f"On {about}, your list starts with the prompt's {len(prompt_ids)} token ids. "
                "Return only the tokens your loop generated."
            )
        if got == expected:
            return None
        eos = set(model.eos_ids)
        if len(got) > len(expected) and got[: len(expected)] == expected and got[len(expected)] in eos:
            return (
                f"On {about}, the model produced an end-of-sequence token ({model.token_text(got[len(expected)])}) "
                "and your loop kept it (or kept going). Stop before appending a token in model.eos_ids: "
                "the text is finished."
            )
        if len(got) >= 3 and len(set(got)) == 1 and len(set(expected)) > 1:
            return (
                f"On {about}, your loop returned the same token {len(got)} times. Each step must "
                "feed the model the prompt *plus every token generated so far*; otherwise it "
                "answers the same question again and again."
            )
        if got == expected[: len(got)]:
            return (
                f"On {about}, your loop stopped after {len(got)} tokens; it should generate "
                f"{len(expected)} (max_new_tokens = {max_new_tokens}, unless the model ends the text first)."
            )
        if got[: len(expected)] == expected:
            return (
                f"On {about}, your loop generated {len(got)} tokens; max_new_tokens = {max_new_tokens} "
                "is the most it may generate. Check your loop's range."
            )
        step = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b) if any(
            a != b for a, b in zip(got, expected)
        ) else min(len(got), len(expected))
        if step < min(len(got), len(expected)):
            return (
                f"On {about}, your token {step + 1} is {model.token_text(got[step])}, but greedy "
                f"decoding picks {model.token_text(expected[step])}, the token with the largest "
                "logit. Use the argmax, with no randomness, at every step."
            )
        return f"On {about}, your loop returned {len(got)} tokens; greedy decoding gives {len(expected)}."


greedy_loop_exercise = _GreedyLoopExercise(
    "greedy_generate",
    question=(
        "Write greedy_generate(model, prompt, max_new_tokens): encode the prompt, then repeat "
        "max_new_tokens times: get model.next_token_logits(ids), take the most likely token, stop "
        "if it is an end-of-sequence token (in model.eos_ids), otherwise append it. Return the list "
        "of new token ids (not the prompt's)."
    ),
    hints=(
        "The loop's state is one list: ids = model.encode(prompt) to start, and every chosen token "
        "is appended to it, so the next call to next_token_logits sees it.",
        "int(np.argmax(logits)) is the greedy choice. Keep the new tokens in their own list (or "
        "slice them off: ids[len(prompt_ids):]) so you can return them.",
    ),
    solution=(
        "def greedy_generate(model, prompt, max_new_tokens):\n"
        "    ids = model.encode(prompt)\n"
        "    new = []\n"
        "    for _ in range(max_new_tokens):\n"
        "        token = int(np.argmax(model.next_token_logits(ids + new)))\n"
        "        if token in model.eos_ids:\n"
        "            break\n"
        "        new.append(token)\n"
        "    return new"
    ),
    praise=(
        "That loop is all of text generation: every sampling method in this course only changes "
        "the line that picks the token."
    ),
)

__all__ += ["perplexity_exercise", "greedy_loop_exercise"]
