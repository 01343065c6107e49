"""Lesson 06's PenaltyExplorer: driven by the 16-token FakeModel of test_widgets, then once on the real model."""

import numpy as np
import pytest
from test_widgets import FakeModel, assert_blit_is_exact, assert_displays_well

from course_utils import sampling
from course_utils.degeneration import loop_at_end
from course_utils.generation import generate
from course_utils.plots import ROLE
from course_utils.widgets import PenaltyExplorer


@pytest.fixture
def fake():
    return FakeModel()


def test_bars_show_the_loop_point_before_and_after_the_penalty(fake):
    explorer = PenaltyExplorer(fake, prompt="a bb ccc", max_new_tokens=16, n_tokens=5)
    assert_displays_well(explorer)
    explorer.set(repetition_penalty=1.5, frequency_penalty=0.5)
    point = explorer.loop_point("a bb ccc")
    plain = sampling.softmax(point.logits)
    penalised = sampling.next_token_distribution(
        point.logits, prompt_ids=point.prompt_ids, generated_ids=point.history,
        repetition_penalty=1.5, frequency_penalty=0.5,
    )
    shown = np.argsort(-plain, kind="stable")[:5]
    assert explorer.before.values == pytest.approx(plain[shown])
    assert explorer.after.values == pytest.approx(penalised[shown])
    seen = set(point.prompt_ids) | set(point.history)
    assert explorer.after.colors == [(ROLE["seen"] if i in seen else ROLE["bar"]).lower() for i in shown]
    assert ROLE["seen"] != ROLE["chosen"]  # lesson 07 calls "chosen" red; "already in the text" is orange
    assert_blit_is_exact(explorer)


def test_the_loop_point_is_where_the_loop_repeats_its_unit():
    class Looping(FakeModel):  # after the prompt, tokens 1, 2, 3 again and again
        def next_token_logits(self, ids):
            logits = np.zeros(self.vocab_size, dtype=np.float32)
            logits[{1: 2, 2: 3}.get(ids[-1], 1)] = 5.0
            return logits

    explorer = PenaltyExplorer(Looping(), prompt="x", max_new_tokens=20)
    point = explorer.loop_point("x")
    assert point.loop is not None and point.loop.period == 3
    text = explorer.continuation("x", 1.0, 0.0)
    assert point.history == text.token_ids[: len(text.token_ids) - point.loop.span + 3]
    assert "still ends in a loop" in explorer.readout_text


def test_the_text_is_generate_s_and_each_setting_is_generated_once(fake):
    explorer = PenaltyExplorer(fake, prompt="hello world", max_new_tokens=16)
    explorer.set(repetition_penalty=1.2)
    expected = generate(FakeModel(), "hello world", max_new_tokens=16, temperature=0, repetition_penalty=1.2)
    shown = explorer.text_box.get_text()
    assert shown.split() == ("hello world" + expected.text).replace("\n", " ↵ ").split()
    calls = fake.calls
    explorer.set(repetition_penalty=1.0)
    explorer.set(repetition_penalty=1.2)
    assert fake.calls == calls  # both settings were kept: no model call


def test_the_readout_keeps_the_smallest_penalty_tried_that_ends_the_loop(fake):
    explorer = PenaltyExplorer(fake, prompt="hello world", max_new_tokens=16)
    for value in (2.0, 1.1, 1.5):
        explorer.set(repetition_penalty=value)
    ending = [v for v in (1.0, 1.1, 1.5, 2.0) if loop_at_end(explorer.continuation("hello world", v, 0.0).token_ids) is None]
    tried = sorted(v for v in (1.1, 1.5, 2.0, 1.0) if v in ending)
    assert explorer.smallest_breaking_penalty("hello world", 0.0) == (tried[0] if tried else None)


def test_bad_arguments_are_explained(fake):
    with pytest.raises(ValueError, match="repetition_penalty=1.23 is not a stop"):
        PenaltyExplorer(fake, repetition_penalty=1.23)
    with pytest.raises(ValueError, match="frequency_penalty"):
        PenaltyExplorer(fake, frequency_penalty=-1.0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        PenaltyExplorer(fake, max_new_tokens=4)
    with pytest.raises(TypeError, match="model must be the course's language model"):
        PenaltyExplorer(object())


def test_real_model_a_small_penalty_ends_the_ai_powered_loop(model):
    explorer = PenaltyExplorer(model, prompt="The AI-powered", max_new_tokens=24)
    point = explorer.loop_point("The AI-powered")
    assert point.loop is not None and "still ends in a loop" in explorer.readout_text
    explorer.set(repetition_penalty=1.05)
    assert "no loop at its end" in explorer.readout_text
    assert "smallest tried that ends the loop alone: repetition_penalty 1.05" in explorer.readout_text
    # Task 3 of the lesson: repetition_penalty back to 1, frequency_penalty up instead. The readout keeps
    # what each penalty did alone, and never calls repetition_penalty 1 a loop breaker.
    explorer.set(repetition_penalty=1.0)
    for frequency in (0.1, 0.3, 0.5):
        explorer.set(frequency_penalty=frequency)
        if "no loop at its end" in explorer.readout_text:
            break
    assert "no loop at its end" in explorer.readout_text
    assert f"frequency_penalty {frequency:g}" in explorer.readout_text
    assert "repetition_penalty 1.05" in explorer.readout_text and "repetition_penalty 1 " not in explorer.readout_text
    assert explorer.after.values[0] < explorer.before.values[0]  # the looping token lost probability
    assert_displays_well(explorer)
