"""Lesson 03 (temperature): softmax with a temperature, a temperature for 90%, effective choices."""

from __future__ import annotations

import numpy as np

from course_utils import sampling
from course_utils.exercises.engine import FLOATS, NUMBER, Case, FunctionExercise, ValueExercise, describe
from course_utils.sampling import softmax

__all__ = ["softmax_t_exercise", "temperature_for_90_exercise", "effective_choices_exercise"]

# The lesson's A/B/C example.
ABC_LOGITS = np.array([2.0, 1.0, 0.1])


# -- Exercise 1: softmax_t ----------------------------------------------------------------------


def softmax_t(logits, temperature):
    z = np.asarray(logits, dtype=float)
    if temperature == 0:  # the limit T -> 0+: all the probability on the largest logit, shared by ties
        top = z == z.max()
        return top / top.sum()
    scaled = z / temperature
    exps = np.exp(scaled - scaled.max())  # the largest exponent is 0: no overflow
    return exps / exps.sum()


def _expected_softmax_t(logits, temperature):
    return sampling.softmax(np.asarray(logits, dtype=np.float64), temperature=temperature)


SOFTMAX_T_CASES = (
    Case((np.array([2.0, 1.0, 0.1]), 1.0), "logits [2.0, 1.0, 0.1] at temperature 1"),
    Case((np.array([2.0, 1.0, 0.1]), 0.5), "logits [2.0, 1.0, 0.1] at temperature 0.5"),
    Case((np.array([2.0, 1.0, 0.1]), 2.0), "logits [2.0, 1.0, 0.1] at temperature 2"),
    Case((np.array([1.5, 1.5, 1.5]), 0.3), "a tie (three equal logits) at temperature 0.3"),
    Case((np.array([0.0, -np.inf, 1.0]), 0.7), "a masked token (a logit of -inf) at temperature 0.7"),
    Case((np.array([10.0, 9.0, 7.5]), 0.01), "ordinary logits [10, 9, 7.5] at a tiny temperature, 0.01"),
    Case((np.array([1000.0, 999.0]), 2.0), "very large logits [1000, 999] at temperature 2"),
    Case(([2.0, 1.0, 0.1], 0.5), "the logits as a plain Python list, [2.0, 1.0, 0.1], at temperature 0.5"),
    Case((np.array([2.0, 1.0, 0.1]), 0.0), "logits [2.0, 1.0, 0.1] at temperature 0 (greedy)"),
    Case((np.array([1.0, 3.0, 3.0]), 0.0), "a tie for the largest logit, [1, 3, 3], at temperature 0"),
)


def _diagnose_softmax_t(case: Case, expected: np.ndarray, got: np.ndarray) -> str | None:
    logits, t = case.args
    shown = f"logits {describe(logits)} at temperature {t:g}"
    if got.shape != expected.shape:
        return (
            f"For {shown}, your function returned shape {got.shape} instead of {expected.shape}: "
            "one probability per logit."
        )
    if t == 0 and not np.allclose(got, expected, rtol=1e-6, atol=1e-12):
        return (
            f"For {shown}, your function returned {describe(got)}. Dividing by T = 0 gives inf or nan: "
            "treat T = 0 as the limit T -> 0+, where all the probability goes to the largest logit, "
            "shared evenly by exact ties (greedy decoding). Test for temperature == 0 first."
        )
    if np.isnan(got).any():
        scaled = logits[np.isfinite(logits)] / t
        if scaled.max() > 700:
            return (
                f"For {shown}, your function returned {describe(got)}. Dividing by a small "
                f"temperature makes the logits huge ({scaled.max():g} here) and exp() of that "
                "overflows to inf; inf / inf is nan. Lesson 02's trick still works after dividing by T."
            )
        return (
            f"For {shown}, your function returned {describe(got)}. A -inf logit must give "
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
            f"For {shown}, your function returned the temperature-1 probabilities {describe(got)}: "
            "the temperature has no effect. Divide the logits by it before the softmax."
        )
    if not np.isclose(got.sum(), 1.0):
        return (
            f"For {shown}, your probabilities sum to {got.sum():.6g}, not 1. "
            "Whatever you do to the logits, normalise at the end."
        )
    return f"For {shown}, your function returned {describe(got)}, but the right probabilities are {describe(expected)}."


softmax_t_exercise = FunctionExercise(
    "softmax_t",
    cases=SOFTMAX_T_CASES,
    expected=_expected_softmax_t,
    returns=FLOATS,
    diagnose=_diagnose_softmax_t,
    question=(
        "Write softmax_t(logits, temperature): a 1-D list or array of logits and a temperature T >= 0 in, "
        "the probabilities exp(z_i / T) / sum_j exp(z_j / T) out. It must survive huge logits, "
        "tiny temperatures, -inf (a masked token) and ties, and give T = 0 its meaning in every library: "
        "greedy, all the probability on the largest logit (shared evenly by exact ties). Do not call "
        "course_utils.sampling."
    ),
    hints=(
        "Temperature comes first: divide every logit by T, then take an ordinary softmax of the result.",
        "Dividing by T = 0.01 multiplies the logits by 100, so exp() can overflow even for ordinary "
        "logits. Lesson 02's fix applies to the scaled logits: subtract their maximum before exp().",
        "np.asarray(logits, dtype=float) / temperature, then subtract .max(), np.exp, divide by the sum. "
        "-inf stays -inf through all of that, and exp(-inf) is exactly 0.",
        "T = 0 cannot be divided by: handle it before anything else. z == z.max() marks the largest logit "
        "(and any tied with it); turn that into probabilities that sum to 1.",
    ),
    solution=softmax_t,
    praise="Divide, shift, exponentiate, normalise: every library's temperature in four steps.",
)


# -- Exercise 2: temperature_for_90 -------------------------------------------------------------

P_TARGET = 0.9


def temperature_for_90():
    z = [2.0, 1.0, 0.1]
    low, high = 0.01, 1.0  # P(A) falls as T rises: above 0.9 at `low`, below it at `high`
    for _ in range(40):
        mid = (low + high) / 2
        if softmax(z, temperature=mid)[0] > 0.9:
            low = mid
        else:
            high = mid
    return round(mid, 3)


def _exact_temperature_for_90() -> float:
    """The same bisection, run to float precision: the value the check compares with."""
    low, high = 1e-3, 1.0
    for _ in range(80):
        mid = (low + high) / 2
        if sampling.softmax(ABC_LOGITS, temperature=mid)[0] > P_TARGET:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def _diagnose_temperature_for_90(t: float, expected: float) -> str:
    if t <= 0:
        return f"A temperature must be positive; {t:g} is not. P(A) falls as T rises, so search between 0 and 1."
    p_a = sampling.softmax(ABC_LOGITS, temperature=t)[0]
    direction = "too hot: try a lower T" if p_a < P_TARGET else "too cold: try a higher T"
    return f"At T = {t:g}, token A gets {p_a:.4f}, not {P_TARGET}. That is {direction}."


_T_FOR_90 = _exact_temperature_for_90()

temperature_for_90_exercise = ValueExercise(
    "temperature_for_90",
    expected=_T_FOR_90,
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
    solution=temperature_for_90,
    mistakes=(
        (
            1 / _T_FOR_90,
            "That is 1/T, the factor the logits are multiplied by. The temperature is the number "
            "you divide them by.",
        ),
    ),
    diagnose=_diagnose_temperature_for_90,
    praise="Exactly: a temperature a bit below 0.5 turns A's two thirds into nine tenths.",
)


# -- Exercise 3: effective_choices --------------------------------------------------------------


def effective_choices(probs):
    p = np.asarray(probs, dtype=float)
    p = p[p > 0]  # 0 log 0 = 0: zero-probability tokens add nothing
    return 2 ** -(p * np.log2(p)).sum()


def _expected_effective_choices(probs):
    return float(2.0 ** sampling.entropy(np.asarray(probs, dtype=np.float64)))


EFFECTIVE_CHOICES_CASES = (
    Case((np.array([0.25, 0.25, 0.25, 0.25]),), "a uniform distribution over 4 tokens"),
    Case((np.array([0.5, 0.25, 0.25]),), "the distribution [0.5, 0.25, 0.25]"),
    Case((np.array([1.0, 0.0, 0.0]),), "a certain token (the others have probability 0)"),
    Case((np.array([0.5, 0.5, 0.0, 0.0]),), "a fair coin among four tokens, two of them impossible"),
    Case((sampling.softmax(ABC_LOGITS),), "the A/B/C probabilities at temperature 1"),
)


def _diagnose_effective_choices(case: Case, expected: float, value: float) -> str | None:
    (probs,) = case.args
    shown = describe(probs)
    if np.isnan(value):
        return (
            f"For probs {shown}, your function returned nan. A zero probability gives 0 * log(0) = "
            "0 * -inf = nan in numpy, but its contribution to the entropy is 0 (the limit of p log p "
            "as p -> 0). Leave zero probabilities out of the sum."
        )
    if np.isclose(value, expected, rtol=1e-6):
        return None
    h_bits = float(sampling.entropy(probs))
    if not np.isclose(h_bits, 0.0) and np.isclose(value, 2.0 ** (h_bits * np.log(2.0)), rtol=1e-6):
        return (
            f"For probs {shown}, you returned {value:.4g}: 2 to the power of the entropy in nats. np.log is "
            "the natural log; `2**H` needs H in bits, from np.log2 (or keep np.log and return np.exp(H))."
        )
    if np.isclose(value, h_bits, rtol=1e-6):
        return f"For probs {shown}, you returned the entropy H = {value:.4g} bits itself. The effective number of choices is 2 to the power H."
    if np.isclose(value, np.exp(h_bits), rtol=1e-6):
        return (
            f"For probs {shown}, you returned {value:.4g}: e to the power of the entropy in bits. "
            "Bits and `2**H` go together (or nats, np.log, and np.exp(H)); mixing them is off by a factor."
        )
    if np.isclose(value, 2.0 ** -h_bits, rtol=1e-6):
        return f"For probs {shown}, you returned {value:.4g}, which is below 1. Check the sign of the entropy: H = -sum p log2 p is never negative."
    return f"For probs {shown}, your function returned {value:.4g}; the effective number of choices is {expected:.4g}."


effective_choices_exercise = FunctionExercise(
    "effective_choices",
    cases=EFFECTIVE_CHOICES_CASES,
    expected=_expected_effective_choices,
    returns=NUMBER,
    diagnose=_diagnose_effective_choices,
    question=(
        "Write effective_choices(probs): the number `2**H`, where H = -sum_i p_i log2 p_i is the "
        "entropy in bits of a 1-D probability vector. Zero probabilities contribute 0 (0 log 0 = 0)."
    ),
    hints=(
        "Check yourself on two cases you know: a uniform distribution over 4 tokens must give 4, "
        "a certain token must give 1.",
        "np.log2(0) is -inf and 0 * -inf is nan. Keep only the non-zero probabilities: p = p[p > 0].",
    ),
    solution=effective_choices,
    praise="A uniform choice among k tokens gives exactly k: that is why `2**H` reads as 'how many real options'.",
)
