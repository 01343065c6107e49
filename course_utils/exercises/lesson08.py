"""Lesson 08 (beyond top-p): top-nσ, η's threshold, XTC's cut, and DRY's penalty."""

from __future__ import annotations

import numpy as np

from course_utils.exercises.engine import ARRAY, NUMBER, Case, FunctionExercise, ValueExercise, describe
from course_utils.processors import DRY, XTC, EtaCutoff, TopNSigma

__all__ = ["top_n_sigma_keep_exercise", "eta_threshold_exercise", "xtc_keep_exercise", "dry_penalty_exercise"]


def _tokens(n: int) -> str:
    return f"{n} token" if n == 1 else f"{n} tokens"


def _not_a_mask(case: Case, mask: np.ndarray, what: str) -> str | None:
    values = case.args[0]
    if mask.shape != values.shape or mask.dtype != bool:
        return (
            f"On {case.about}, your function returned {describe(mask)} (dtype {mask.dtype}, shape "
            f"{mask.shape}). It should return a boolean array with one True/False per token: True "
            f"for the tokens {what} keeps."
        )
    return None


# -- Exercise 1: top_n_sigma_keep ----------------------------------------------------------------


def top_n_sigma_keep(logits, n):
    z = np.asarray(logits, dtype=float)
    # np.std divides by the number of tokens (llama.cpp does the same)
    return z >= z.max() - n * z.std()


def _expected_top_n_sigma(logits, n):
    return np.isfinite(TopNSigma(n)(np.asarray(logits, dtype=np.float64)))


EIGHT = np.array([4.0, 3.5, 1.0, 0.5, 0.0, -0.5, -1.0, -7.5])

TOP_N_SIGMA_CASES = (
    Case((np.array([3.0, 2.0, 1.0, 0.0, -1.0, -5.0]), 1.0), "logits [3, 2, 1, 0, -1, -5] with n = 1"),
    Case((np.array([0.0, -1.0, 2.0, 3.0, 1.0, -5.0]), 1.0), "the same logits, unsorted, with n = 1"),
    Case((EIGHT, 0.5), "eight logits with n = 0.5"),
    Case((np.array([2.0, 1.2, 0.4, -2.0]), 1.0), "four logits [2, 1.2, 0.4, -2] with n = 1"),
    Case((EIGHT / 2.0, 0.5), "the same eight logits divided by T = 2, with n = 0.5"),
    Case((np.array([1.0, -1.0, 1.0, -1.0]), 2.0), "logits [1, -1, 1, -1] with n = 2: σ = 1, so the tokens "
         "at -1 sit exactly on the cut"),
)


def _diagnose_top_n_sigma_keep(case: Case, expected: np.ndarray, mask: np.ndarray) -> str | None:
    logits, n = case.args
    if (problem := _not_a_mask(case, mask, "top-nσ")) is not None:
        return problem
    if np.array_equal(mask, expected):
        return None
    z = np.asarray(logits, dtype=float)
    if np.array_equal(mask, z >= z.max() - n * z.std(ddof=1)):
        return (
            f"On {case.about}, you took the sample standard deviation (dividing by N - 1). top-nσ "
            "divides by the number of tokens N, as np.std does by default."
        )
    if np.array_equal(mask, z > z.max() - n * z.std()):
        return (
            f"On {case.about}, you dropped a token whose logit equals max - n·σ exactly. top-nσ "
            "keeps every token at least that high: >=, not >."
        )
    p = np.exp(z - z.max())
    p /= p.sum()
    if np.array_equal(mask, p >= p.max() - n * p.std()):
        return (
            f"On {case.about}, you worked on probabilities. top-nσ works on the logits: their spread "
            "scales with 1/T exactly as the distance to the max does, which is why its kept set "
            "does not depend on the temperature."
        )
    if np.array_equal(mask, z >= z.mean() - n * z.std()) or np.array_equal(mask, z >= z.mean() + n * z.std()):
        return (
            f"On {case.about}, you measured from the mean. top-nσ measures down from the *largest* "
            "logit: a token stays if its logit is at least max - n·σ."
        )
    return (
        f"On {case.about}, you kept {_tokens(int(mask.sum()))}, but {int(expected.sum())} have a logit "
        f"of at least max - n·σ = {z.max() - n * z.std():.4g}."
    )


top_n_sigma_keep_exercise = FunctionExercise(
    "top_n_sigma_keep",
    cases=TOP_N_SIGMA_CASES,
    expected=_expected_top_n_sigma,
    returns=ARRAY,
    diagnose=_diagnose_top_n_sigma_keep,
    question=(
        "Write top_n_sigma_keep(logits, n): for a 1-D array of logits and n > 0, return a boolean "
        "array that is True for every token whose logit is at least max(logits) - n * σ, where σ "
        "is the standard deviation of all the logits."
    ),
    hints=(
        "Work on the logits themselves, not on probabilities: no softmax is needed.",
        "np.std gives σ (it divides by the number of values, as llama.cpp does); then one "
        "comparison with max - n·σ gives every token's answer at once.",
    ),
    solution=top_n_sigma_keep,
    praise=(
        "Divide the logits by T and both the max's distance and σ shrink by T: the same tokens pass. "
        "That is the whole trick of top-nσ."
    ),
)


# -- Exercise 2: eta_threshold -------------------------------------------------------------------


def eta_threshold(probs, eta):
    p = np.asarray(probs, dtype=float)
    p = p[p > 0]  # 0 log 0 = 0
    entropy = -(p * np.log(p)).sum()  # in nats, as Hewitt et al. and transformers use
    return float(min(eta, np.sqrt(eta) * np.exp(-entropy)))


def _expected_eta_threshold(probs, eta):
    with np.errstate(divide="ignore"):
        logp = np.log(np.asarray(probs, dtype=np.float64))
    return float(np.exp(EtaCutoff(eta).threshold(logp[None])[0, 0]))


ETA_CASES = (
    Case((np.array([0.25, 0.25, 0.25, 0.25]), 0.002), "four equally likely tokens with η = 0.002"),
    Case((np.array([0.97, 0.01, 0.01, 0.01]), 0.002), "a confident distribution with η = 0.002"),
    Case((np.array([0.5, 0.3, 0.2, 0.0]), 0.02), "probabilities [0.5, 0.3, 0.2, 0] (one impossible token) with η = 0.02"),
    Case((np.array([0.25, 0.25, 0.25, 0.25, 0.0]), 0.1), "four equally likely tokens and an impossible one, with η = 0.1"),
    Case((np.full(1000, 0.001), 0.0009), "a thousand equally likely tokens with η = 0.0009"),
)


def _diagnose_eta_threshold(case: Case, expected: float, got: float) -> str | None:
    probs, eta = case.args
    if np.isclose(got, expected, rtol=1e-6, atol=0):
        return None
    if np.isnan(got):
        return f"On {case.about}, your function returned nan: 0 * log(0) is nan in numpy, and 0 log 0 counts as 0."
    p = np.asarray(probs, dtype=float)
    p = p[p > 0]
    nats, bits = -(p * np.log(p)).sum(), -(p * np.log2(p)).sum()
    if np.isclose(got, min(eta, np.sqrt(eta) * np.exp(-bits)), rtol=1e-6):
        return f"On {case.about}, you measured the entropy in bits. η's formula uses e^(−H), with H in nats (np.log)."
    if np.isclose(got, np.sqrt(eta) * np.exp(-nats), rtol=1e-6):
        return (
            f"On {case.about}, you returned √η·e^(−H) = {got:.4g}, which is above η = {eta}. The threshold "
            "is the smaller of η and √η·e^(−H)."
        )
    if np.isclose(got, min(eta, eta * np.exp(-nats)), rtol=1e-6):
        return f"On {case.about}, you multiplied e^(−H) by η. The formula takes its square root: √η·e^(−H)."
    return f"On {case.about}, your function returned {got:.4g}; η's threshold there is {expected:.4g}."


eta_threshold_exercise = FunctionExercise(
    "eta_threshold",
    cases=ETA_CASES,
    expected=_expected_eta_threshold,
    returns=NUMBER,
    diagnose=_diagnose_eta_threshold,
    question=(
        "Write eta_threshold(probs, eta): the probability below which η-sampling removes a token, "
        "min(η, √η · e^(−H)), where H is the entropy of probs in nats."
    ),
    hints=(
        "The entropy: H = -Σ p log p over the tokens with p > 0, with np.log (nats).",
        "Then compute both candidates, η and np.sqrt(η) * np.exp(-H), and return the smaller.",
    ),
    solution=eta_threshold,
    praise=(
        "A flat distribution (high H) pulls the threshold far below η, so η keeps many tokens when the "
        "model is unsure and few when it is sure."
    ),
)


# -- Exercise 3: xtc_keep ------------------------------------------------------------------------


def xtc_keep(probs, threshold):
    p = np.asarray(probs, dtype=float)
    keep = np.ones(len(p), dtype=bool)
    top = np.flatnonzero(p >= threshold)  # the "top choices"
    if len(top) >= 2:  # with fewer than two, XTC does nothing
        least = top[np.argmin(p[top])]
        keep[top] = False
        keep[least] = True  # the least likely top choice stays
    return keep


def _expected_xtc(probs, threshold):
    with np.errstate(divide="ignore"):
        logp = np.log(np.asarray(probs, dtype=np.float64))
    return np.isfinite(XTC(1.0, threshold)(logp))


XTC_CASES = (
    Case((np.array([0.5, 0.3, 0.15, 0.05]), 0.1), "probabilities [0.5, 0.3, 0.15, 0.05] with threshold 0.1"),
    Case((np.array([0.05, 0.3, 0.15, 0.5]), 0.1), "the same probabilities, unsorted, with threshold 0.1"),
    Case((np.array([0.9, 0.06, 0.04]), 0.1), "a confident distribution: only one token reaches 0.1"),
    Case((np.array([0.2, 0.3, 0.05, 0.22, 0.23]), 0.21), "three top choices (0.3, 0.23, 0.22) above threshold 0.21"),
)


def _diagnose_xtc_keep(case: Case, expected: np.ndarray, mask: np.ndarray) -> str | None:
    probs, threshold = case.args
    if (problem := _not_a_mask(case, mask, "XTC")) is not None:
        return problem
    if np.array_equal(mask, expected):
        return None
    above = probs >= threshold
    if np.array_equal(mask, ~above) or np.array_equal(mask, probs < threshold):
        if above.sum() >= 2:
            return (
                f"On {case.about}, you removed every token above the threshold. XTC keeps one of them, "
                "the least likely, so a 'top choice' is still among the candidates."
            )
        return (
            f"On {case.about}, you removed the only token that reaches the threshold. XTC acts only "
            "when at least two tokens reach it: with one, there is no other top choice to turn to."
        )
    if above.sum() >= 2 and not mask[np.argmax(np.where(above, -probs, -np.inf))] and mask[np.argmax(probs)]:
        return (
            f"On {case.about}, you kept the most likely top choice. XTC keeps the *least* likely of the "
            "tokens above the threshold and removes the others."
        )
    return f"On {case.about}, you kept {_tokens(int(mask.sum()))}; XTC keeps {int(expected.sum())}."


xtc_keep_exercise = FunctionExercise(
    "xtc_keep",
    cases=XTC_CASES,
    expected=_expected_xtc,
    returns=ARRAY,
    diagnose=_diagnose_xtc_keep,
    question=(
        "Write xtc_keep(probs, threshold): what XTC keeps at a step where its coin says 'act'. The "
        "tokens with p >= threshold are the top choices; if there are at least two, remove all of "
        "them except the least likely one. Return a boolean array, True for the tokens kept."
    ),
    hints=(
        "np.flatnonzero(probs >= threshold) lists the top choices. With fewer than two, keep everything.",
        "Start from an all-True mask, set the top choices to False, then set the least likely of "
        "them (np.argmin over their probabilities) back to True.",
    ),
    solution=xtc_keep,
    praise=(
        "XTC never lets the text leave the set of plausible tokens: it only takes away the most "
        "obvious ones, and only when there is a plausible alternative."
    ),
)


# -- Exercise 4: dry_penalty (a value) -----------------------------------------------------------

DRY_HISTORY = (7, 3, 9, 4, 5, 1, 8, 7, 3, 9, 4)  # the last four tokens repeat 7 3 9 4, once followed by 5
DRY_TOKEN = 5
DRY_SETTINGS = {"dry_multiplier": 0.8, "dry_base": 1.75, "dry_allowed_length": 2}


def dry_penalty():
    return 0.8 * 1.75 ** (4 - 2)  # the repeat 7 3 9 4 has length 4; the allowed length is 2


def _dry_penalty() -> float:
    tokens, penalties = DRY(**DRY_SETTINGS, dry_penalty_last_n=-1).penalties(np.array(DRY_HISTORY))
    (penalty,) = penalties[tokens == DRY_TOKEN]  # the only token that would extend a repeat
    return float(penalty)


_DRY = _dry_penalty()

dry_penalty_exercise = ValueExercise(
    "dry_penalty",
    kind=NUMBER,
    expected=_DRY,
    tolerance=0.001,
    question=(
        "The tokens so far are 7 3 9 4 5 1 8 7 3 9 4. The last four, 7 3 9 4, repeat a sequence that "
        "was followed by token 5. With dry_multiplier 0.8, dry_base 1.75 and dry_allowed_length 2, by "
        "how much does DRY lower token 5's logit?"
    ),
    hints=(
        "DRY's penalty is multiplier · base^(length − allowed_length), where length is how long the "
        "repeat is that token 5 would extend.",
        "Count the repeated tokens just before the next one: 7 3 9 4 is 4 tokens long.",
    ),
    solution=dry_penalty,
    mistakes=(
        (0.8 * 1.75 ** (5 - 2), "You counted token 5 itself in the length. The length is the repeat "
                                "already written, 7 3 9 4, which token 5 would extend."),
        (0.8 * 1.75 ** (3 - 2), "The repeat is one token longer than you counted: 7 3 9 4."),
        (0.8 * 1.75 ** 4, "You left out the allowed length: the exponent is length − allowed_length."),
    ),
    praise=(
        "Each extra repeated token multiplies the penalty by 1.75, so a long loop is pushed out hard "
        "while a short repeat (an ordinary word pair) costs nothing."
    ),
)
