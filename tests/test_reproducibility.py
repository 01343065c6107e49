"""The course's reproducibility tools: what every machine prints the same, checked the way draws are."""

import numpy as np
import pytest

from course_utils import sampling
from course_utils.display import kept_per_step, mean_kept, significant
from course_utils.generation import GenerationStep, generate
from course_utils.plots import draw_margins_figure
from course_utils.reproducibility import (
    MARGIN_VARIABLE,
    FlippedDraw,
    NearTieError,
    agreeing_prefix,
    check_margin,
    count_in,
    required_margin,
    round_count,
    side_of,
    weakest_draw,
)


def test_check_margin_refuses_a_decision_closer_than_required_and_names_it(monkeypatch):
    assert check_margin(0.5, "anything") == 0.5  # nothing required: no check
    monkeypatch.setenv(MARGIN_VARIABLE, "0.1")
    assert check_margin(0.2, "Token 3 was drawn") == 0.2
    with pytest.raises(NearTieError, match=r"Token 3 was drawn by a margin of 0.05 logits, below COURSE_MIN_MARGIN=0.1"):
        check_margin(0.05, "Token 3 was drawn")


def test_side_of_compares_only_what_another_machine_compares_alike():
    with required_margin(1e-3):
        assert side_of(0.0009, 0.01, "the margin") == "under"
        assert side_of(0.5, 0.1, "the median") == "over"
        with pytest.raises(NearTieError, match="was compared with 0.01"):
            side_of(0.0099, 0.01, "the margin")


@pytest.mark.parametrize(("count", "digits", "shown"), [(48_996, 2, 49_000), (698, 2, 700), (47, 2, 47), (0, 2, 0),
                                                       (1470, None, 1470), (3285, 1, 3000)])
def test_round_count_keeps_significant_digits(count, digits, shown):
    assert round_count(count, digits) == shown


def test_count_in_counts_exactly_where_no_value_is_near_a_bound_and_refuses_a_count_it_cannot_vouch_for():
    values = np.array([-1.0, -0.5, 0.2, 0.30005, 2.0])
    with required_margin(1e-3):
        assert count_in(values, low=0) == 3
        assert count_in(values, low=0, high=1) == 2
        with pytest.raises(NearTieError, match="between 1 and 2"):
            count_in(values, low=0.3)  # 0.30005 is within the margin of the bound
        # a log-probability moves twice as far as the logits: the same values, a wider slack
        with pytest.raises(NearTieError):
            count_in(values, low=0.3003, per_logit=2)
    assert count_in(values, low=0.3) == 2  # no margin required: the plain count


def test_count_in_rounds_a_count_that_noise_can_move_by_a_few():
    values = np.concatenate([np.linspace(-5, -0.01, 4000), np.linspace(0.0001, 5, 6000)])
    with required_margin(3e-4):
        with pytest.raises(NearTieError):
            count_in(values, low=0)
        assert count_in(values, low=0, digits=2) == 6000


def test_kept_count_is_the_chains_count_and_refuses_a_cut_that_falls_at_a_token():
    rng = np.random.default_rng(0)
    x = rng.normal(size=2000) * 2
    for settings in (dict(top_p=0.9), dict(min_p=0.05), dict(temperature=1.5, top_p=0.9),
                     dict(temperature=0.7, top_p=0.8, order="llama.cpp"), dict(top_k=30, top_p=0.5)):
        expected = int(np.count_nonzero(sampling.next_token_distribution(x, **settings)))
        assert sampling.kept_count(x, **settings) == expected
        fewest, most = sampling.kept_count_range(x, **settings)
        assert fewest == most == expected  # nothing required: the count itself
    probs = sampling.softmax(x)
    ranked = np.sort(probs)[::-1]
    at_a_token = float(np.cumsum(ranked)[99])  # top-p exactly at the mass of the top 100
    with required_margin(3e-4):
        fewest, most = sampling.kept_count_range(x, top_p=at_a_token)
        assert fewest < most
        with pytest.raises(NearTieError, match="number of tokens the chain keeps"):
            sampling.kept_count(x, top_p=at_a_token)
        assert sampling.kept_count(x, top_p=at_a_token, digits=1) == 100


def test_a_draw_whose_cut_could_change_the_winner_has_that_cut_in_its_margin():
    # Three tokens: top-p 0.5 keeps only the first, and the second would win the race if kept.
    # The closer top-p sits to the first token's mass, the smaller the draw's margin.
    x = np.array([1.0, 0.99, -3.0])
    first_mass = sampling.softmax(x)[0]
    far = sampling.draw_next_token(x, rng=np.random.default_rng(1), top_p=first_mass - 0.05)
    near = sampling.draw_next_token(x, rng=np.random.default_rng(1), top_p=first_mass - 1e-4)
    assert far.token == near.token == 0
    assert near.margin < far.margin < float("inf")


def test_weakest_draw_names_the_closest_draw_only_when_it_stands_out():
    def steps(*margins):
        return type("G", (), {"steps": [GenerationStep(0, "", 1.0, 0.0, 1, 0, 0.0, m) for m in margins]})

    assert weakest_draw(steps(0.5, 0.001, 0.2)) == 1
    with required_margin(1e-3):
        assert weakest_draw(steps(0.5, 0.001, 0.2)) == 1
        with pytest.raises(NearTieError, match="closest draw"):
            weakest_draw(steps(0.5, 0.0011, 0.0015))
    with pytest.raises(ValueError, match="no steps"):
        weakest_draw(steps())


def test_a_flipped_draw_changes_that_draw_only_and_its_own_draw_is_as_clear(model):
    first = generate(model, "Deep in the forest, an owl", max_new_tokens=14, temperature=1.0, top_k=0, seed=33)
    closest = weakest_draw(first)
    elsewhere = generate(FlippedDraw(model, first, closest), "Deep in the forest, an owl", max_new_tokens=14,
                         temperature=1.0, top_k=0, seed=33)
    assert agreeing_prefix(first.token_ids, elsewhere.token_ids) == closest
    assert elsewhere.steps[closest].margin == pytest.approx(first.steps[closest].margin, rel=0.05)
    with pytest.raises(ValueError, match="index of a step"):
        FlippedDraw(model, first, 14)


def test_agreeing_prefix():
    assert agreeing_prefix([1, 2, 3], [1, 2, 4]) == 2
    assert agreeing_prefix([1, 2], [1, 2, 3]) == 2
    assert agreeing_prefix([], [1]) == 0


def test_kept_counts_of_a_generation_print_only_what_every_machine_counts(model):
    with required_margin(3e-4):
        g = generate(model, "My favourite thing about autumn is", max_new_tokens=8, temperature=0.8, top_p=0.9, seed=0)
        assert all(step.kept_range is not None for step in g.steps)
        counts = kept_per_step(g.steps)
        assert counts == [step.n_kept for step in g.steps]
        assert mean_kept(g.steps) == significant(np.mean(counts), 2)
    shaky = [GenerationStep(0, "", 1.0, 0.0, 700, 0, 0.0, 1.0, kept_range=(699, 701))]
    with required_margin(3e-4):
        with pytest.raises(NearTieError):
            kept_per_step(shaky)
        assert mean_kept(shaky) == "700"
        with pytest.raises(NearTieError):
            mean_kept(shaky, digits=3)


def test_draw_margins_figure_marks_the_closest_draw():
    figure = draw_margins_figure([0.3, 0.001, 2.0], 1, machines_differ_by=3e-5, bfloat16_rounding=0.06)
    assert repr(figure) == "draw_margins_figure(3 draws, the closest at step 2)"
    with pytest.raises(ValueError, match="margins"):
        draw_margins_figure([0.3, float("inf")], 0, machines_differ_by=3e-5, bfloat16_rounding=0.06)
