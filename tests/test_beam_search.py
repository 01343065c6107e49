"""Beam search: its rules on a tiny Markov model, exhaustive search as a property, the KV cache's
reorder on the real model, and (`-m reference`) token-for-token equality with transformers'
`generate(num_beams=k, do_sample=False)` on a tiny random Llama."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import require_reference
from course_utils.beam_search import beam_search
from course_utils.generation import generate
from course_utils.model import load_model


class MarkovModel:
    """Logits that depend only on the last token, from a table; the beam-search model interface."""

    def __init__(self, table, eos_ids=()):
        self.table = np.asarray(table, dtype=np.float32)
        self.vocab_size = self.table.shape[1]
        self.eos_ids = frozenset(eos_ids)

    class Cache:
        def reorder(self, rows):
            pass  # nothing to keep: the logits depend on the last token only

    def new_cache(self, batch_size=1):
        return self.Cache()

    def forward(self, tokens, cache):
        return self.table[np.asarray(tokens)[:, -1]]

    def decode(self, ids):
        return " ".join(map(str, ids))

    def encode(self, text):
        return [int(t) for t in text.split()]

    def chat_prompt(self, message):
        return message


def log_softmax(x):
    x = np.asarray(x, dtype=np.float64)
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def sequence_logprob(table, prompt_last, tokens):
    lp, last = 0.0, prompt_last
    for t in tokens:
        lp += log_softmax(table[last])[t]
        last = t
    return lp


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 3), st.integers(1, 3), st.sampled_from([0.0, 1.0, 2.0]))
def test_enough_beams_find_the_most_likely_text(seed, vocab, length, length_penalty):
    # With num_beams >= vocab ** length and no end-of-sequence token, beam search is exhaustive.
    table = np.random.default_rng(seed).normal(0, 2, size=(vocab, vocab))
    model = MarkovModel(table)
    result = beam_search(model, [0], num_beams=vocab**length, max_new_tokens=length, length_penalty=length_penalty)
    best = max(sequence_logprob(table, 0, seq) for seq in itertools.product(range(vocab), repeat=length))
    # (Two texts can tie exactly: a Markov chain's 0 2 0 and 2 0 0 use the same transitions.)
    assert result.logprob == pytest.approx(best, abs=1e-5)
    assert result.logprob == pytest.approx(sequence_logprob(table, 0, result.token_ids), abs=1e-5)
    assert result.score == pytest.approx(result.logprob / length**length_penalty)


def test_result_records_are_consistent():
    table = np.random.default_rng(3).normal(0, 2, size=(6, 6))
    result = beam_search(MarkovModel(table, eos_ids=[5]), [1, 2], num_beams=3, max_new_tokens=6, length_penalty=0.7)
    assert result.prompt == "1 2" and result.prompt_ids == [1, 2]
    assert result.token_ids == result.beams[0].token_ids and result.score == result.beams[0].score
    scores = [b.score for b in result.beams]
    assert scores == sorted(scores, reverse=True) and len(result.beams) == 3
    for beam in result.beams:
        assert beam.logprob == pytest.approx(sum(beam.token_logprobs))
        assert beam.score == pytest.approx(beam.logprob / len(beam.token_ids) ** 0.7)
        assert beam.token_logprobs == pytest.approx([
            log_softmax(table[prev])[t] for prev, t in zip([2] + beam.token_ids[:-1], beam.token_ids)
        ])
    assert result.settings == dict(num_beams=3, max_new_tokens=6, length_penalty=0.7, early_stopping=False, chat=False)


def test_an_end_of_sequence_token_finishes_a_hypothesis():
    # After token 1 the model is sure to end: the best text is [1, EOS], and the text leaves EOS out.
    table = np.full((4, 4), -5.0)
    table[0, 1] = 5.0
    table[1, 3] = 9.0
    result = beam_search(MarkovModel(table, eos_ids=[3]), [0], num_beams=2, max_new_tokens=5)
    assert result.token_ids == [1, 3] and result.finish_reason == "eos" and result.text == "1"


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(num_beams=0), ValueError, "num_beams must be a whole number >= 1"),
        (dict(num_beams=2.0), TypeError, "num_beams must be a whole number >= 1"),
        (dict(max_new_tokens=0), ValueError, "max_new_tokens must be a whole number >= 1"),
        (dict(length_penalty=float("nan")), ValueError, "length_penalty must be a finite number"),
        (dict(early_stopping="yes"), ValueError, "early_stopping must be True, False or 'never'"),
        (dict(early_stopping=1), ValueError, "early_stopping"),
    ],
)
def test_bad_input_gets_a_clear_error(kwargs, error, message):
    arguments = dict(num_beams=2, max_new_tokens=3) | kwargs
    with pytest.raises(error, match=message):
        beam_search(MarkovModel(np.zeros((3, 3))), [0], **arguments)


# ---- the real model ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model():
    return load_model()


def test_cache_reorder_follows_the_rows(model):
    # Two different prompts, then rows reordered [1, 0, 1]: each row continues its own prompt.
    prompts = [model.encode("The cat sat on the"), model.encode("Paris is the capital of")]
    width = len(prompts[0])
    assert len(prompts[1]) == width
    cache = model.new_cache(2)
    model.forward(np.array(prompts), cache)
    cache.reorder([1, 0, 1])
    next_tokens = np.array([[11], [12], [13]])
    logits = model.forward(next_tokens, cache)
    for row, (source, token) in enumerate(zip([1, 0, 1], [11, 12, 13])):
        alone = model.new_cache(1)
        expected = model.forward(np.array([prompts[source] + [token]]), alone)[0]
        np.testing.assert_allclose(logits[row], expected, rtol=1e-4, atol=1e-4)


def test_beam_search_runs_on_the_course_model_and_generate_routes_to_it(model):
    result = beam_search(model, "The Romans built roads that", num_beams=3, max_new_tokens=6)
    assert 1 <= len(result.token_ids) <= 6 and result.text and result.score < 0
    assert result.full_text.startswith("The Romans built roads that")
    routed = generate(model, "The Romans built roads that", num_beams=3, max_new_tokens=6)
    assert routed.token_ids == result.token_ids and routed.score == result.score


def test_generate_refuses_sampling_settings_with_beams_and_beam_settings_without(model):
    with pytest.raises(ValueError, match="takes no sampling or grammar settings, but temperature, repetition_penalty were"):
        generate(model, "Hi", num_beams=2, temperature=0.7, repetition_penalty=1.2)
    with pytest.raises(ValueError, match="length_penalty and early_stopping are beam search settings"):
        generate(model, "Hi", length_penalty=2.0)


# ---- against transformers -----------------------------------------------------------------------


class HuggingFaceModel:
    """A transformers causal LM behind the beam-search model interface (its cache reorders itself)."""

    def __init__(self, hf_model, eos_ids):
        self.hf_model = hf_model
        self.vocab_size = hf_model.config.vocab_size
        self.eos_ids = frozenset(eos_ids)

    class Cache:
        def __init__(self):
            from transformers import DynamicCache

            self.inner = DynamicCache()

        def reorder(self, rows):
            import torch

            self.inner.reorder_cache(torch.as_tensor(np.asarray(rows)))

    def new_cache(self, batch_size=1):
        return self.Cache()

    def forward(self, tokens, cache):
        import torch

        with torch.no_grad():
            out = self.hf_model(input_ids=torch.as_tensor(np.asarray(tokens)), cache=cache.inner, use_cache=True)
        return out.logits[:, -1].float().numpy()

    def decode(self, ids):
        return " ".join(map(str, ids))


@pytest.fixture(scope="module")
def tiny_llamas():
    require_reference()
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    models = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        config = LlamaConfig(
            vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
            num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
        )
        models.append(LlamaForCausalLM(config).eval())
    return models


@pytest.mark.reference
def test_beam_search_equals_transformers_generate(tiny_llamas):
    import torch

    prompt = [1, 5, 7, 3]
    finishes, lengths = set(), set()
    for hf_model, num_beams, length_penalty, early_stopping, eos, max_new_tokens in itertools.product(
        tiny_llamas, [2, 3, 4], [1.0, 0.0, 2.0, -0.5], [False, True, "never"], [[2], [9], [9, 14]], [6, 12]
    ):
        out = hf_model.generate(
            torch.tensor([prompt]), num_beams=num_beams, do_sample=False, max_new_tokens=max_new_tokens,
            length_penalty=length_penalty, early_stopping=early_stopping, eos_token_id=eos, pad_token_id=0,
            output_scores=True, return_dict_in_generate=True,
        )
        ours = beam_search(
            HuggingFaceModel(hf_model, eos), prompt, num_beams=num_beams, max_new_tokens=max_new_tokens,
            length_penalty=length_penalty, early_stopping=early_stopping,
        )
        case = (num_beams, length_penalty, early_stopping, eos, max_new_tokens)
        assert ours.token_ids == out.sequences[0, len(prompt):].tolist(), case
        assert ours.score == pytest.approx(float(out.sequences_scores[0]), rel=1e-5, abs=1e-5), case
        finishes.add(ours.finish_reason)
        lengths.add(len(ours.token_ids))
    # The cases cover both endings and hypotheses of many lengths.
    assert finishes == {"eos", "max_new_tokens"} and len(lengths) >= 5


def test_the_result_records_the_running_beams_of_every_step_for_the_walk_figure():
    from course_utils.plots import beam_walk_figure

    model = load_model()
    result = beam_search(model, "The Romans built roads that", num_beams=3, max_new_tokens=4)
    assert 1 <= len(result.steps) <= 4
    for number, beams in enumerate(result.steps, start=1):
        scores = [score for _, score in beams]
        assert scores == sorted(scores, reverse=True)  # best first
        assert all(len(tokens) == number for tokens, _ in beams)
    # Each running beam grew from a beam of the step before.
    for before, after in zip(result.steps, result.steps[1:]):
        assert all(any(tokens[:-1] == parent for parent, _ in before) for tokens, _ in after)
    figure = beam_walk_figure(result.steps, result.beams, model.token_text)
    assert "3 best partial texts" in figure.figure._suptitle.get_text()
