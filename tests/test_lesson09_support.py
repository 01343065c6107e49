"""What lesson 09 shows beyond its exercises: the speculation stepper and the four figures."""

import re

import numpy as np
import pytest
from matplotlib.colors import to_hex

from browser_support import visible_change

from course_utils import sampling
from course_utils.plots import (
    ROLE,
    drawn_marks,
    first_token_histogram_figure,
    forward_time_figure,
    rule_figure,
    speedup_figure,
)
from course_utils.speculative import RULE, acceptance_rate
from course_utils.widgets import SpeculationStepper
from course_utils.widgets.lesson09 import FATE_COLORS, percent_2

PARAGRAPH = ("The river town woke slowly. Fishermen pulled their boats onto the gravel, the baker "
             "opened his shutters, and the ferry bell rang twice across the grey water.")
BLUE, VERMILION, GREY, GREEN = (FATE_COLORS[f].lower() for f in ("accepted", "rejected", "not checked", "model's own"))


@pytest.fixture(scope="module")
def prompt(model):
    return model.chat_prompt("Repeat this paragraph exactly:\n\n" + PARAGRAPH)


@pytest.fixture(scope="module")
def stepper(model, prompt):
    return SpeculationStepper(model, prompt)


# ---- the stepper ----------------------------------------------------------------------------------


def test_the_stepper_opens_where_the_first_move_recolours_the_bars(stepper):
    assert repr(stepper) == "SpeculationStepper(check=1, prompt_lookup_num_tokens=8, max_new_tokens=40)"
    assert stepper.readout_text == (
        "check 1 of 12: drafted 8, accepted 0, then the model wrote 'The' itself — 1 token for one forward pass")
    assert stepper.bars.labels == ["You", "␣are", "␣a", "␣helpful", "␣AI", "␣assistant", "␣named", "␣Sm", "→ The"]
    assert stepper.bars.colors == [VERMILION] + [GREY] * 7 + [GREEN]
    before = drawn_marks(stepper.figure)
    stepper.set(check=2)
    try:
        assert visible_change(before, drawn_marks(stepper.figure)) is not None
        assert stepper.bars.colors == [BLUE, BLUE, VERMILION] + [GREY] * 5 + [GREEN]
        assert stepper.readout_text == ("check 2 of 12: drafted 8, accepted 2, then the model wrote ' was' itself"
                                        " — 3 tokens for one forward pass")
        assert stepper.title.get_text() == "Check 2: the model kept 2 of 8 drafted tokens, then wrote the next itself"
        assert stepper.checks[1].verification.p == (1.0, 1.0, 0.0)  # the rule's p at T = 0: the colours
        assert stepper.text_panel.tokens == ["The", " river", " town", " was"]
    finally:
        stepper.set(check=1)


def test_every_check_reads_as_what_it_did(stepper):
    readouts = []
    for k in range(1, len(stepper.checks) + 1):
        stepper.set(check=k)
        readouts.append(stepper.readout_text)
    stepper.set(check=1)
    assert readouts[2] == ("check 3 of 12: prompt lookup found nothing to draft, so the model wrote ' aw' itself"
                           " — 1 token for one forward pass")
    assert readouts[5] == ("check 6 of 12: drafted 8, accepted all 8, then the model added ',' as a bonus"
                           " — 9 tokens for one forward pass")
    made = sum(view.verification.new_tokens for view in stepper.checks)
    assert made == len(stepper.generation.token_ids)
    assert f"{len(stepper.checks)} checks made {made} tokens" in stepper.subtitle.get_text()
    alpha = acceptance_rate([view.verification for view in stepper.checks])
    assert f"α = {alpha:.2g}" in stepper.subtitle.get_text()


def test_the_bars_are_the_models_probabilities_of_the_drafted_tokens(model, stepper):
    stepper.set(check=2)
    try:
        view = stepper.checks[1]
        v = view.verification
        ids = model.encode(stepper.prompt) + stepper.generation.token_ids[: v.start + v.accepted]
        probs = sampling.softmax(np.asarray(model.next_token_logits(ids), dtype=np.float64))
        # The rejected token and the model's own token, at the position of the rejection.
        assert stepper.bars.values[v.accepted] == pytest.approx(probs[v.drafted[v.accepted]], abs=1e-3)
        assert stepper.bars.values[-1] == pytest.approx(probs[v.token], abs=1e-3)
        assert int(np.argmax(probs)) == v.token  # greedy writes the model's favourite
        assert stepper.bars.value_strings == [percent_2(p) for p in stepper.bars.values]
    finally:
        stepper.set(check=1)


def test_the_stepper_remembers_its_generation(model, prompt, stepper):
    again = SpeculationStepper(model, prompt, check=6)
    assert again.generation is stepper.generation
    assert again.bars.colors == [BLUE] * 8 + [GREEN]


def test_the_stepper_refuses_what_it_cannot_show(model, prompt, stepper):
    with pytest.raises(ValueError, match="prompt_lookup_num_tokens must be a whole number from 1 to 8, got 9"):
        SpeculationStepper(model, prompt, prompt_lookup_num_tokens=9)
    with pytest.raises(ValueError, match="prompt must be a non-empty string"):
        SpeculationStepper(model, "  ")
    with pytest.raises(ValueError, match="check must be a whole number from 1 to 12, got 13"):
        SpeculationStepper(model, prompt, check=13)
    with pytest.raises(ValueError, match=r"check=0 is outside the slider's range \[1, 12\]"):
        stepper.set(check=0)


def test_probabilities_print_to_two_significant_digits():
    assert [percent_2(p) for p in (0, 1e-6, 0.00412, 0.0525, 0.26, 0.9123, 0.996, 1.0)] == [
        "0%", "<0.01%", "0.41%", "5.2%", "26%", "91%", "100%", "100%"]


# ---- the figures -----------------------------------------------------------------------------------

P, Q = [0.5, 0.3, 0.1, 0.1], [0.2, 0.6, 0.1, 0.1]
LABELS = [" cat", " dog", " fish", " owl"]


def figures():
    return [
        forward_time_figure({1: 0.0123, 2: 0.0131, 4: 0.0147, 8: 0.0189, 16: 0.0276}),
        rule_figure(P, Q, LABELS, " dog"),
        first_token_histogram_figure(LABELS, [480, 320, 110, 90], [510, 290, 95, 105], P),
        speedup_figure([1, 2, 4, 8], {"paragraph": [1.8, 2.5, 3.4, 4.1], "story": [1.1, 1.2, 1.2, 1.3]},
                       {"paragraph": [1.8, 2.4, 3.3, 4.4], "story": [1.1, 1.1, 1.1, 1.1]},
                       {"paragraph": [1.5, 2.0, 2.6, 2.9], "story": [0.9, 0.9, 0.85, 0.8]}),
    ]


def test_the_figures_describe_themselves_without_timings():
    descriptions = [repr(f) for f in figures()]
    assert descriptions == [
        "forward_time_figure(1, 2, 4, 8, 16 new tokens)",
        "rule_figure(4 tokens, drafted ␣dog)",
        "first_token_histogram_figure(4 tokens, 1,000 plain and 1,000 speculative draws)",
        "speedup_figure(γ = 1, 2, 4, 8; paragraph, story; with speed-ups)",
    ]
    assert not any(re.search(r"\d\.\d", d) for d in descriptions)  # no time, no measured number


def test_the_figures_have_titles_and_labelled_axes():
    for figure in figures():
        assert figure._repr_png_()[:4] == b"\x89PNG"
        assert figure.figure._suptitle is not None and figure.figure._suptitle.get_text()
        for ax in figure.figure.axes:
            assert ax.get_ylabel(), (repr(figure), ax)
            if ax.xaxis.get_visible():
                assert ax.get_xlabel(), (repr(figure), ax)


def test_the_rule_figure_draws_the_courses_rule():
    figure = rule_figure(P, Q, LABELS, 1).figure
    p_and_q, keep, residual = figure.axes
    heights = lambda ax, i=0: [bar.get_height() for bar in ax.containers[i]]  # noqa: E731
    assert heights(p_and_q, 0) == P and heights(p_and_q, 1) == Q
    assert heights(keep) == [RULE.acceptance(p, q) for p, q in zip(P, Q)]
    assert heights(residual) == list(RULE.residual(np.array(P), np.array(Q)))
    assert to_hex(residual.containers[0][0].get_facecolor()) == ROLE["chosen"].lower()


def test_the_figures_refuse_what_they_cannot_draw():
    with pytest.raises(TypeError, match="times must be a non-empty dict"):
        forward_time_figure({})
    with pytest.raises(ValueError, match=r"times\[2\] = -1 must be a positive number of seconds"):
        forward_time_figure({1: 0.01, 2: -1})
    with pytest.raises(ValueError, match="p must sum to 1"):
        rule_figure([0.5, 0.6], [0.5, 0.5], ["a", "b"], 0)
    with pytest.raises(ValueError, match="drafted='x' is not one of the labels"):
        rule_figure(P, Q, LABELS, "x")
    with pytest.raises(ValueError, match="has q = 0"):
        rule_figure([0.5, 0.5], [1.0, 0.0], ["a", "b"], 1)
    with pytest.raises(ValueError, match="need one entry per token"):
        first_token_histogram_figure(LABELS, [1, 2], [1, 2], P)
    with pytest.raises(ValueError, match="formula_tokens names the tasks"):
        speedup_figure([1, 2], {"a": [1, 2]}, {"b": [1, 2]})
    with pytest.raises(ValueError, match=r"tokens_per_check\['a'\] has 1 values for 2 draft lengths"):
        speedup_figure([1, 2], {"a": [1]}, {"a": [1, 2]})
