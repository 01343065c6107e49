"""Lesson outputs decided by a comparison that the lesson code itself does not check: each is far
from its cut, and these tests say how far, in the units of the margin policy (logits), so that a
change of prompt or model that brings one near its cut fails here rather than on another machine.

(Counts the lessons print go through `sampling.kept_count` and `reproducibility.count_in`, draws
through the margin check; what is left is below.)"""

import numpy as np

from course_utils.generation import generate
from course_utils.widgets.lesson07 import PERSON_QUESTION, PERSON_SCHEMA

# Ten times the largest difference measured between two machines' logits: `make test`'s margin.
LESSON_MARGIN = 3e-4


def float16_overflow_cut() -> float:
    """The float32 value above which rounding to float16 gives a number whose float16 exp() is inf:
    the midpoint between the largest float16 whose exp stays finite and the next one."""
    value = np.float16(11.0)
    with np.errstate(over="ignore"):
        while np.isfinite(np.exp(np.nextafter(value, np.float16(np.inf)))):
            value = np.nextafter(value, np.float16(np.inf))
    return (float(value) + float(np.nextafter(value, np.float16(np.inf)))) / 2


def test_lesson_02_float16_overflow_count_is_far_from_its_cut(model):
    # Lesson 02 prints how many of the model's logits overflow exp() in float16.
    logits = model.next_token_logits(model.encode("The capital of France is"))
    cut = float16_overflow_cut()
    with np.errstate(over="ignore"):
        overflowed = np.isinf(np.exp(logits.astype(np.float16)))
    assert int(overflowed.sum()) == int((logits > cut).sum())  # the cut is where float16 puts it
    assert np.min(np.abs(logits - cut)) > LESSON_MARGIN


def test_lesson_07_steps_where_the_mask_removed_most_are_far_from_the_10_percent_line(model):
    # Lesson 07 lists the steps where the mask removed more than 10% of the model's probability.
    # Moving the logits by d moves the log-odds of the allowed share by up to 2d.
    forced = generate(model, PERSON_QUESTION, chat=True, max_new_tokens=80, temperature=0, json_schema=PERSON_SCHEMA)
    allowed = np.array([step.allowed_prob for step in forced.steps])
    with np.errstate(divide="ignore"):
        log_odds = np.log(allowed) - np.log1p(-allowed)
    distance = np.abs(log_odds - np.log(0.9 / 0.1)) / 2
    assert distance.min() > LESSON_MARGIN
    assert [number for number, a in enumerate(allowed, start=1) if 1 - a > 0.1] == [1, 4, 11, 13, 16, 18]
