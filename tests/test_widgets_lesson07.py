"""Lesson 07's ConstraintExplorer: driven by the 16-token FakeModel of test_widgets (with a stand-in
grammar, since the fake has no tokenizer for llguidance), then once on the real model."""

import numpy as np
import pytest
from test_widgets import FakeModel, assert_blit_is_exact, assert_displays_well

from course_utils import sampling
from course_utils.generation import generate
from course_utils.plots import ROLE
from course_utils.widgets import ConstraintExplorer, lesson07
from course_utils.widgets.lesson07 import PERSON_QUESTION, PERSON_SCHEMA, removed_share

# The stand-in grammar's tokens: " the", " a", " cat", " dog", " big", " small" and <end>.
ALLOWED = np.zeros(FakeModel.vocab_size, dtype=bool)
ALLOWED[[0, 1, 5, 6, 8, 9, 14]] = True


class EveryOtherStepGrammar:
    """A stand-in for structured.TokenConstraint: ALLOWED on even steps, everything on odd ones."""

    def __init__(self, tokenizer, **grammar):
        self.token_ids = []

    def allowed(self):
        return ALLOWED.copy() if len(self.token_ids) % 2 == 0 else np.ones_like(ALLOWED)

    def advance(self, token_id):
        assert self.allowed()[token_id]
        self.token_ids.append(token_id)


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(lesson07, "TokenConstraint", EveryOtherStepGrammar)
    model = FakeModel()
    model.tokenizer = None
    return model


def test_bars_show_the_model_and_the_masked_distribution(fake):
    explorer = ConstraintExplorer(fake, prompt="a bb ccc", chat=False, max_steps=6, n_tokens=5)
    assert_displays_well(explorer)
    logits = fake.next_token_logits(fake.encode("a bb ccc"))
    probs = sampling.softmax(logits)
    shown = np.argsort(-probs, kind="stable")[:5]
    assert explorer.model_bars.values == pytest.approx(probs[shown])
    masked = sampling.softmax(np.where(ALLOWED, logits, -np.inf))
    masked_shown = np.argsort(-masked, kind="stable")[:5]
    assert explorer.masked_bars.values == pytest.approx(masked[masked_shown])
    chosen = int(np.argmax(masked))  # greedy, among the allowed tokens
    assert explorer.steps[0].token_id == chosen
    assert explorer.steps[0].allowed_prob == pytest.approx(probs[ALLOWED].sum())
    for token, colour in zip(shown, explorer.model_bars.colors):
        expected = ROLE["chosen"] if token == chosen else ROLE["kept"] if ALLOWED[token] else ROLE["removed"]
        assert colour.lower() == expected.lower()
    assert explorer.masked_bars.colors[0].lower() == ROLE["chosen"].lower()
    assert removed_share(probs[ALLOWED].sum()) in explorer.title.get_text()
    assert f"{int(ALLOWED.sum())} tokens allowed" in explorer.readout_text


def test_the_step_slider_walks_the_answer_without_running_the_model_again(fake):
    explorer = ConstraintExplorer(fake, prompt="a bb ccc", chat=False, max_steps=6)
    calls = fake.calls
    explorer.set(step=2)
    assert fake.calls == calls  # the whole answer was computed once, for the first draw
    assert "Step 2" in explorer.title.get_text()
    assert explorer.steps[1].allowed_prob == pytest.approx(1.0)  # odd steps allow everything
    assert "under 0.1 %" in explorer.readout_text
    explorer.set(step=6)
    last = len(explorer.steps)
    assert f"step {last} of {last}" in explorer.readout_text
    assert_blit_is_exact(explorer)


def test_empty_prompt_and_bad_arguments(fake):
    explorer = ConstraintExplorer(fake, prompt="a", chat=False)
    explorer.set(prompt="   ")
    assert explorer.readout_text.startswith("Type a prompt")
    with pytest.raises(ValueError, match="step"):
        ConstraintExplorer(fake, chat=False, step=30, max_steps=24)
    with pytest.raises(ValueError, match="n_tokens"):
        ConstraintExplorer(fake, chat=False, n_tokens=1)
    with pytest.raises(TypeError, match="chat must be True or False"):
        ConstraintExplorer(fake, chat="yes")


def test_removed_share_never_prints_noise_digits():
    assert removed_share(0.34) == "66 %"
    assert removed_share(1.0) == "under 0.1 %"
    assert removed_share(0.9999) == "under 0.1 %"
    assert removed_share(0.995) == "0.50 %"


def test_a_grammar_llguidance_rejects_is_an_error_at_once(model):
    with pytest.raises(ValueError, match="llguidance rejects"):
        ConstraintExplorer(model, grammar='start: "unclosed')


def test_real_model_steps_are_generate_s_constrained_answer(model):
    explorer = ConstraintExplorer(model, step=1, max_steps=24)
    reference = generate(
        model, PERSON_QUESTION, chat=True, temperature=0, max_new_tokens=24, json_schema=PERSON_SCHEMA
    )
    # The same tokens through next_step; the numbers agree to the KV cache's rounding (the model
    # may reuse a cached prefix for one call and not the other).
    assert [s.token_id for s in explorer.steps] == reference.token_ids
    assert [s.allowed_prob for s in explorer.steps] == pytest.approx([s.allowed_prob for s in reference.steps], rel=1e-4)
    assert explorer.text == reference.text and reference.complete
    first = explorer.steps[0]
    assert explorer.model_bars.labels[0] != explorer.label(first.token_id)  # the model wanted a code fence
    assert f"removed {removed_share(first.allowed_prob)}" in explorer.title.get_text()
    explorer.set(step=5)
    assert "Step 5" in explorer.title.get_text()
