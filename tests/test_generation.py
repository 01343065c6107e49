"""generate() and generate_batch(): the loop's mechanics on a tiny fake model (fast, exact), then
the real model: greedy is the argmax loop, seeds reproduce, batches change nothing."""

import numpy as np
import pytest

from course_utils import sampling
from course_utils.generation import Generation, GenerationStep, generate, generate_batch

EOS = 0


class FakeModel:
    """Four tokens; the logits depend only on the last token, from a fixed table."""

    vocab_size = 4
    eos_ids = frozenset({EOS})
    TEXT = {0: "<eos>", 1: "a", 2: " b", 3: "\nc"}
    LOGITS = {  # next-token scores after each token
        1: [0.0, 1.0, 3.0, 2.0],  # after "a": " b" most likely
        2: [0.5, 2.5, 1.0, 2.0],  # after " b": "a" most likely
        3: [4.0, 0.0, 0.0, 0.0],  # after "\nc": end of sequence
    }

    def __init__(self):
        self.calls = []

    def encode(self, text):
        return [1] * len(text)

    def decode(self, ids):
        return "".join(self.TEXT[i] for i in ids)

    def token_text(self, token_id):
        return self.TEXT[token_id].replace(" ", "␣").replace("\n", "↵")

    def chat_prompt(self, message):
        return f"[{message}]"

    def next_token_logits(self, ids):
        self.calls.append(list(ids))
        return np.array(self.LOGITS[ids[-1]], dtype=np.float32)


def test_greedy_follows_the_argmax_and_stops_at_eos():
    g = generate(FakeModel(), [3], temperature=0, max_new_tokens=5)
    assert g.token_ids == [EOS] and g.finish_reason == "eos" and g.text == ""
    g = generate(FakeModel(), [1], temperature=0, max_new_tokens=5)
    assert g.token_ids == [2, 1, 2, 1, 2] and g.finish_reason == "max_new_tokens"
    assert g.text == " ba ba b" and g.prompt == "a" and g.full_text == "a ba ba b"
    assert [s.token_text for s in g.steps] == ["␣b", "a", "␣b", "a", "␣b"]
    assert all(s.prob == 1.0 and s.entropy == 0.0 and s.n_kept == 1 for s in g.steps)


def test_each_step_records_its_final_distribution():
    settings = dict(temperature=0.8, top_k=3, top_p=0.9, min_p=0.0, order="transformers")
    model = FakeModel()
    g = generate(model, [1], max_new_tokens=6, seed=3, **settings)
    for ids, step in zip(model.calls, g.steps):
        logits = FakeModel.LOGITS[ids[-1]]
        final = sampling.next_token_distribution(logits, **settings)
        assert step.prob == pytest.approx(final[step.token_id]) and step.prob > 0
        assert step.entropy == pytest.approx(sampling.entropy(final))
        assert step.n_kept == np.count_nonzero(final) <= 3
        assert step.logprob == pytest.approx(sampling.log_softmax(logits)[step.token_id])


def test_generation_feeds_back_its_own_tokens():
    model = FakeModel()
    g = generate(model, [1], max_new_tokens=3, seed=2)
    assert len(g.token_ids) == 3  # this seed never draws the end-of-sequence token
    assert model.calls == [[1], [1, g.token_ids[0]], [1, *g.token_ids[:2]]]


def test_text_after_eos_is_cut_but_the_step_is_kept():
    g = generate(FakeModel(), [1], temperature=1.0, max_new_tokens=50, seed=9)
    assert g.token_ids == [2, 1, 3, EOS] and g.finish_reason == "eos"  # seed 9 happens to end here
    assert g.steps[-1].token_id == EOS and g.steps[-1].token_text == "<eos>"
    assert g.text == " ba\nc"


def test_chat_wraps_the_prompt():
    model = FakeModel()
    g = generate(model, "hi", chat=True, temperature=0, max_new_tokens=1)
    assert g.prompt == "hi" and g.prompt_ids == model.encode("[hi]")


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(max_new_tokens=0), ValueError, "max_new_tokens"),
        (dict(max_new_tokens=2.5), TypeError, "max_new_tokens"),
        (dict(temperature=-1), ValueError, "temperature"),
        (dict(top_p=1.5), ValueError, "top_p"),
        (dict(order="random"), ValueError, "order"),
        (dict(seed=-1), ValueError, "seed"),
        (dict(seed="abc"), TypeError, "seed"),
        (dict(chat="yes"), TypeError, "chat"),
    ],
)
def test_bad_settings_are_refused_before_the_model_runs(kwargs, error, words):
    model = FakeModel()
    with pytest.raises(error, match=words):
        generate(model, [1], **kwargs)
    assert model.calls == []


@pytest.mark.parametrize(
    "prompt, kwargs, error, words",
    [
        (42, {}, TypeError, "prompt must be a string"),
        ("", {}, ValueError, "empty"),
        ([], {}, ValueError, "empty"),
        ([7], {}, ValueError, "ids go from 0 to 3"),
        ([1], dict(chat=True), ValueError, "chat=True"),
    ],
)
def test_bad_prompts_are_refused(prompt, kwargs, error, words):
    with pytest.raises(error, match=words):
        generate(FakeModel(), prompt, **kwargs)


def test_batch_seeds_must_match_the_prompts():
    with pytest.raises(ValueError, match="list of 2 seeds"):
        generate_batch(FakeModel(), [[1], [2]], seed=[1, 2, 3])
    with pytest.raises(TypeError, match="non-empty list of prompts"):
        generate_batch(FakeModel(), "a single string")


# ---- the real model -------------------------------------------------------------------------


def test_greedy_equals_a_learners_argmax_loop(model):
    g = generate(model, "The capital of France is", max_new_tokens=8, temperature=0)
    ids = model.encode("The capital of France is")
    for _ in range(8):
        ids.append(int(np.argmax(model.next_token_logits(ids))))
    assert g.token_ids == ids[-8:]
    assert g.text.startswith(" Paris")
    assert isinstance(g, Generation) and isinstance(g.steps[0], GenerationStep)


def test_greedy_is_deterministic(model):
    first = generate(model, "Once upon a time", max_new_tokens=12, temperature=0)
    again = generate(model, "Once upon a time", max_new_tokens=12, temperature=0, seed=99)
    assert first.token_ids == again.token_ids


def test_seeded_sampling_is_reproducible(model):
    settings = dict(max_new_tokens=16, temperature=1.0, top_p=0.95)
    a = generate(model, "Once upon a time", seed=7, **settings)
    b = generate(model, "Once upon a time", seed=7, **settings)
    c = generate(model, "Once upon a time", seed=8, **settings)
    assert a.token_ids == b.token_ids and a.text == b.text
    assert a.token_ids != c.token_ids  # checked: seeds 7 and 8 diverge on this prompt


def test_chat_answers_and_stops_at_im_end(model):
    g = generate(model, "What is the capital of France?", chat=True, max_new_tokens=48, temperature=0)
    assert g.prompt_ids == model.encode(model.chat_prompt("What is the capital of France?"))
    assert "Paris" in g.text
    assert g.finish_reason == "eos" and g.token_ids[-1] == 2 and "<|im_end|>" not in g.text


def test_batch_equals_one_at_a_time(model):
    prompts = ["The capital of France is", "Once upon a time", "def add(a, b):", "What is 2+2?"]
    settings = dict(max_new_tokens=12, temperature=1.0, top_k=50, top_p=0.95)
    batch = generate_batch(model, prompts, seed=5, **settings)
    for i, prompt in enumerate(prompts):
        alone = generate(model, prompt, seed=5 + i, **settings)
        assert batch[i].token_ids == alone.token_ids
        assert batch[i].text == alone.text
        for b, a in zip(batch[i].steps, alone.steps):
            assert b.prob == pytest.approx(a.prob, abs=1e-4) and b.n_kept == a.n_kept


def test_batch_with_chat_and_early_eos(model):
    questions = ["What is the capital of France?", "Name a colour."]
    batch = generate_batch(model, questions, chat=True, max_new_tokens=40, temperature=0)
    for question, g in zip(questions, batch):
        alone = generate(model, question, chat=True, max_new_tokens=40, temperature=0)
        assert g.token_ids == alone.token_ids and g.finish_reason == alone.finish_reason


def test_timed_generate_returns_generates_text_and_this_machines_seconds(model):
    from course_utils.generation import timed_generate

    text, seconds = timed_generate(model, "The capital of France is", repeats=2, max_new_tokens=3, temperature=0)
    assert text.token_ids == generate(model, "The capital of France is", max_new_tokens=3, temperature=0).token_ids
    assert seconds > 0  # this machine's seconds: a benchmark measures them, no test bounds them
    with pytest.raises(ValueError, match="repeats"):
        timed_generate(model, "The capital of France is", repeats=0, max_new_tokens=3)
