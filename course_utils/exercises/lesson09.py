"""Lesson 09 (speculative decoding): one step of the accept / reject rule, and what a check yields.

The learner's step returns the distribution the next token comes from, all its mass on the
drafted token when it is kept: ``None`` cannot mean "accepted", because the engine reads a
function returning ``None`` as the untouched placeholder.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from course_utils import speculative
from course_utils.exercises.engine import ARRAY, NUMBER, Case, Feedback, FunctionExercise, describe
from course_utils.speculative import RULE, Draws, verify

__all__ = ["speculative_step_exercise", "expected_tokens_exercise"]


def _short(values) -> str:
    """Probabilities to 2 significant digits, as the lesson prints them: [0.5, 0.3, 0.2]."""
    return "[" + ", ".join(f"{v:.2g}" for v in np.asarray(values, dtype=float)) + "]"


# -- Exercise 1: speculative_step ----------------------------------------------------------------


def speculative_step(p, q, x, u):
    if u < min(1.0, p[x] / q[x]):  # kept with probability min(1, p(x) / q(x))
        next_token = np.zeros(len(p))
        next_token[x] = 1.0  # kept: the next token is x, for certain
        return next_token
    residual = np.maximum(p - q, 0.0)  # what p has where q lacks it
    return residual / residual.sum()


class _FixedDraw(Draws):
    """The course's draws with the accept test's uniform number fixed to u. A pick remembers the
    distribution it was asked to draw from: that distribution is the step's answer."""

    def __init__(self, u: float):
        super().__init__(SimpleNamespace(random=lambda: u))
        self.drawn_from: np.ndarray | None = None

    def pick(self, probs: np.ndarray) -> int:
        self.drawn_from = probs
        return 0  # which token it would be does not matter here


def _certain(x: int, size: int) -> np.ndarray:
    next_token = np.zeros(size)
    next_token[x] = 1.0
    return next_token


def _expected_step(p, q, x, u):
    """The course's own rule (speculative.verify with RULE) on a draft of the one token x."""
    draw = _FixedDraw(u)
    # Draws.accept also measures how close u came to the cut, in logs: nan at u = 0 with p(x) = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        accepted, _ = verify([x], [q], lambda i: p if i == 0 else None, draw)
    return _certain(x, len(p)) if accepted else draw.drawn_from


# The lesson's three-token example: the draft likes token 1 more than the model does.
THREE_P = np.array([0.5, 0.3, 0.2])
THREE_Q = np.array([0.2, 0.5, 0.3])

STEP_CASES = (
    Case((THREE_P, THREE_Q, 1, 0.7), "p = [0.5, 0.3, 0.2], q = [0.2, 0.5, 0.3], x = 1, u = 0.7"),
    Case((THREE_P, THREE_Q, 1, 0.3), "p = [0.5, 0.3, 0.2], q = [0.2, 0.5, 0.3], x = 1, u = 0.3"),
    Case((THREE_P, THREE_Q, 0, 0.99), "p = [0.5, 0.3, 0.2], q = [0.2, 0.5, 0.3], x = 0, u = 0.99 "
         "(p(x) is above q(x))"),
    Case((np.array([0.25, 0.375, 0.25, 0.125]), np.array([0.5, 0.125, 0.125, 0.25]), 0, 0.5),
         "p = [0.25, 0.375, 0.25, 0.125], q = [0.5, 0.125, 0.125, 0.25], x = 0, u = 0.5 "
         "(u equals p(x)/q(x) exactly)"),
    Case((np.array([0.1, 0.6, 0.2, 0.05, 0.05]), np.array([0.0, 1.0, 0.0, 0.0, 0.0]), 1, 0.8),
         "p = [0.1, 0.6, 0.2, 0.05, 0.05], a one-hot q = [0, 1, 0, 0, 0] (prompt lookup), x = 1, u = 0.8"),
    Case((np.array([0.1, 0.6, 0.2, 0.05, 0.05]), np.array([0.0, 1.0, 0.0, 0.0, 0.0]), 1, 0.4),
         "p = [0.1, 0.6, 0.2, 0.05, 0.05], a one-hot q = [0, 1, 0, 0, 0] (prompt lookup), x = 1, u = 0.4"),
    Case((np.array([0.5, 0.3, 0.2, 0.0]), np.array([0.25, 0.25, 0.25, 0.25]), 3, 0.0),
         "p = [0.5, 0.3, 0.2, 0], q = [0.25, 0.25, 0.25, 0.25], x = 3, u = 0 (the model gives x no chance)"),
)


def _normalised(values: np.ndarray) -> np.ndarray:
    total = values.sum()
    return values / total if total > 0 else values


def _not_a_distribution(case: Case, got: np.ndarray) -> str | None:
    p, _, x, _ = case.args
    if got.shape == p.shape:
        return None
    if got.dtype == bool:
        return (
            f"On {case.about}, your function returned {describe(got)}, whether x is kept. Return the "
            "distribution the next token comes from instead: all its mass on x when x is kept, the "
            "distribution of the replacement when it is not."
        )
    if got.shape == () and got == x:
        return (
            f"On {case.about}, your function returned the token x = {x} itself. Return the distribution "
            f"the next token comes from: an array like p, with 1 at index {x} and 0 elsewhere."
        )
    return (
        f"On {case.about}, your function returned {describe(got)} (shape {got.shape}). Return one "
        f"probability per token of the vocabulary: an array shaped like p, {p.shape}."
    )


def _diagnose_speculative_step(case: Case, expected: np.ndarray, got: np.ndarray) -> str | None:
    if (problem := _not_a_distribution(case, got)) is not None:
        return problem
    p, q, x, u = case.args
    got = got.astype(float)
    if np.allclose(got, expected, rtol=0, atol=1e-9):
        return None
    if np.isnan(got).any():
        return (
            f"On {case.about}, your function returned {describe(got)}: a division of 0 by 0 made nan. "
            "Check what you divide by: whenever x can be rejected, the residual's sum is above 0."
        )
    threshold = RULE.acceptance(p[x], q[x])
    kept = np.array_equal(expected, _certain(x, len(p)))
    if np.array_equal(got, _certain(x, len(p))):  # the learner kept x, the rule does not
        if u == threshold:
            return (
                f"On {case.about}, you kept x, but u is exactly p(x)/q(x) = {threshold:.2g}. The test is "
                "strict: x is kept only when u < min(1, p(x)/q(x)), so with <= instead of <, x would be "
                "kept a little more often than the rule allows."
            )
        with np.errstate(divide="ignore"):
            if u < min(1.0, q[x] / p[x]):
                return (
                    f"On {case.about}, you kept x by comparing u with q(x)/p(x). The ratio is the other "
                    f"way up: p(x)/q(x) = {threshold:.2g}, so a token the draft proposes more often than "
                    "the model would pick it is kept only that fraction of the time."
                )
        return (
            f"On {case.about}, you kept x, but u = {u} is not below min(1, p(x)/q(x)) = {threshold:.2g}: "
            "the model rejects it here."
        )
    if kept:
        return (
            f"On {case.about}, you rejected x, but u = {u} is below min(1, p(x)/q(x)) = {threshold:.2g}: "
            f"the model keeps it, and the next token is x for certain (1 at index {x})."
        )
    return _wrong_replacement(case, expected, got)


def _wrong_replacement(case: Case, expected: np.ndarray, got: np.ndarray) -> str:
    p, q, _, _ = case.args
    if np.allclose(got, p):
        return (
            f"On {case.about}, after rejecting x you returned p itself. Drawing the replacement from p "
            "biases the text towards the draft: the tokens q proposes often have already come out as "
            "kept drafts, and p gives them their full share a second time. Draw it from the mass p has "
            "where q lacks it."
        )
    backwards = np.maximum(q - p, 0.0)
    if np.allclose(got, backwards) or np.allclose(got, _normalised(backwards)):
        return (
            f"On {case.about}, you used max(0, q − p): the mass the *draft* has where the model lacks "
            "it. The replacement must make up for what the draft proposes too rarely, where p is "
            "above q: max(0, p − q)."
        )
    if not np.isclose(got.sum(), 1.0):
        return (
            f"On {case.about}, your function returned {describe(got)}, which sums to {got.sum():.2g}, "
            "not 1. A distribution sums to 1: divide the residual by its sum."
        )
    return (
        f"On {case.about}, the model rejects x, and you returned {describe(got)}; the replacement is "
        f"drawn from {describe(expected)}."
    )


def _next_token_probabilities(step, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The probability of each next token when x ~ q and u ~ U[0, 1), through `step` (a rule that
    keeps x below one cut of u, as the right one does). The cut is found by bisection on u."""
    total = np.zeros(len(p))
    for x in np.flatnonzero(q):
        low, high = 0.0, float(np.nextafter(1.0, 0.0))
        below, above = step(p.copy(), q.copy(), int(x), low), step(p.copy(), q.copy(), int(x), high)
        if not np.array_equal(below, above):
            for _ in range(60):  # u where the step's answer changes, to about 1e-18
                middle = (low + high) / 2
                same = np.array_equal(step(p.copy(), q.copy(), int(x), middle), below)
                low, high = (middle, high) if same else (low, middle)
        total += q[x] * (high * np.asarray(below, dtype=float) + (1.0 - high) * np.asarray(above, dtype=float))
    return total


class _StepExercise(FunctionExercise):
    """Its ✓ adds the payoff, computed from the learner's own function: the text comes out as p."""

    def check(self, answer) -> Feedback:
        feedback = super().check(answer)
        if not feedback:
            return feedback
        try:
            next_token = _next_token_probabilities(answer, THREE_P, THREE_Q)
        except Exception:  # a function right on every case may still fail elsewhere: then no payoff
            return feedback
        same = "= p" if np.allclose(next_token, THREE_P, atol=1e-6) else f"(p is {_short(THREE_P)})"
        payoff = (
            f"On p = {_short(THREE_P)}, q = {_short(THREE_Q)}: x ~ q, then your step: next token "
            f"probabilities {_short(next_token)} {same}."
        )
        return Feedback(feedback.kind, feedback.title, f"{payoff} {feedback.message}")


speculative_step_exercise = _StepExercise(
    "speculative_step",
    cases=STEP_CASES,
    expected=_expected_step,
    returns=ARRAY,
    diagnose=_diagnose_speculative_step,
    question=(
        "Write speculative_step(p, q, x, u): p and q are the model's and the draft's probabilities "
        "over the same vocabulary (1-D arrays), x is the token the draft proposed (drawn from q), and "
        "u is a uniform random number in [0, 1). Return the distribution the next token comes from: "
        "if the model keeps x (u < min(1, p(x)/q(x))), an array with 1 at index x and 0 elsewhere; "
        "otherwise the residual distribution the replacement is drawn from, max(0, p − q) normalised "
        "to sum to 1. Do not change p or q."
    ),
    hints=(
        "Two outcomes. Kept: the next token is x for certain, so all the mass goes to index `x`. "
        "Rejected: the next token is drawn afresh, from a distribution over the whole vocabulary.",
        "x is kept when `u < min(1, p[x] / q[x])`, strictly below: u equal to the ratio rejects. A token "
        "the model likes at least as much as the draft does is always kept.",
        "After a rejection, not p: the kept drafts already gave some tokens their share. The replacement "
        "comes from what p has where q lacks it, `np.maximum(p - q, 0)`, divided by its sum. Build new "
        "arrays (`np.zeros(len(p))` for the kept case) rather than changing p or q.",
    ),
    solution=speculative_step,
    praise=(
        "The draft only decides how many tokens one pass of the model yields: every token still comes "
        "out with exactly the model's probability, whatever q is."
    ),
)


# -- Exercise 2: expected_tokens -----------------------------------------------------------------


def expected_tokens(alpha, gamma):
    if alpha == 1:  # every drafted token kept: the formula below would be 0/0
        return gamma + 1.0
    # 1 + α + α² + ... + α^γ: the model's own token, then drafted token i if the first i are kept
    return (1 - alpha ** (gamma + 1)) / (1 - alpha)


EXPECTED_TOKENS_CASES = (
    Case((0.8, 4), "α = 0.8 and γ = 4"),
    Case((0.5, 2), "α = 0.5 and γ = 2"),
    Case((0.0, 3), "α = 0 (every drafted token rejected) and γ = 3"),
    Case((0.7, 0), "α = 0.7 and γ = 0 (nothing drafted)"),
    Case((1.0, 4), "α = 1 (every drafted token kept) and γ = 4"),
)


def _diagnose_expected_tokens(case: Case, expected: float, got: float) -> str | None:
    alpha, gamma = case.args
    if np.isclose(got, expected, rtol=1e-9, atol=0):
        return None
    if not np.isfinite(got):
        return (
            f"On {case.about}, your function returned {got}: at α = 1 the formula divides 0 by 0. There "
            "every drafted token is kept, so count the tokens directly and return that case on its own."
        )
    if np.isclose(got, alpha * gamma, rtol=1e-9):
        return (
            f"On {case.about}, you returned γ·α = {got:.4g}, as if every drafted token were checked. The "
            "check stops at the first rejection: drafted token i counts only if tokens 1 to i are all "
            "kept, with probability α^i."
        )
    if np.isclose(got, expected - 1, rtol=1e-9):
        return (
            f"On {case.about}, you returned {got:.4g}, one less than a check yields: you counted only the "
            "kept drafted tokens. The model always adds one token of its own, the replacement after a "
            "rejection or one more from p when every drafted token is kept."
        )
    if alpha != 1 and np.isclose(got, (1 - alpha ** gamma) / (1 - alpha), rtol=1e-9):
        return (
            f"On {case.about}, you returned (1 − α^γ) / (1 − α) = {got:.4g}: the sum 1 + α + ... + α^γ "
            "has γ + 1 terms, so the power is γ + 1."
        )
    return f"On {case.about}, your function returned {got:.4g}; a check yields {expected:.4g} tokens on average."


def _explain_expected_tokens_error(case: Case, error: Exception) -> str | None:
    if isinstance(error, ZeroDivisionError):
        return (
            "At α = 1 the formula divides 0 by 0. There every drafted token is kept, so count the tokens "
            "directly and return that case on its own."
        )
    return None


expected_tokens_exercise = FunctionExercise(
    "expected_tokens",
    cases=EXPECTED_TOKENS_CASES,
    expected=speculative.expected_tokens,
    returns=NUMBER,
    diagnose=_diagnose_expected_tokens,
    explain_error=_explain_expected_tokens_error,
    question=(
        "Write expected_tokens(alpha, gamma): the expected number of tokens one check yields when the "
        "draft proposes gamma tokens, each kept with probability alpha independently, the check stops "
        "at the first rejection, and the model always adds one token of its own."
    ),
    hints=(
        "Count token by token. The model's own token always comes: 1. Drafted token 1 counts if it is "
        "kept (α), drafted token 2 if tokens 1 and 2 both are (α²), and so on up to token γ.",
        "That is the geometric sum 1 + α + α² + ... + α^γ, with γ + 1 terms: (1 − α^(γ+1)) / (1 − α).",
        "At α = 1 the fraction is 0/0. Then every drafted token is kept and the model adds its own: "
        "return γ + 1 in that case, before the division.",
    ),
    solution=expected_tokens,
    praise=(
        "Drafted token i adds only α^i to the count: past a few tokens, a longer draft costs more to "
        "make than it yields."
    ),
)
