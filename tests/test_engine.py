"""The engine: one processor per dial, a configuration checked once, a chain applied once per step,
processors with state that roll back, the model interface, and the stopping dials (stop strings,
min_new_tokens, finish_reason) on a tiny fake model and against transformers."""

import numpy as np
import pytest

from conftest import require_reference
from course_utils import interface, processors
from course_utils.chain import Chain, SamplingConfig
from course_utils.draw import decide
from course_utils.generation import generate, generate_batch
from course_utils.model import load_model
from course_utils.processors import NO_HISTORY
from course_utils.structured import TokenConstraint

EOS = 0


class WordModel:
    """Five tokens that spell "ab\\ncd..." in a loop; the logits depend only on the last token."""

    vocab_size = 5
    eos_ids = frozenset({EOS})
    TEXT = {0: "<eos>", 1: "a", 2: "b\n", 3: "c", 4: "d"}
    NEXT = {1: 2, 2: 3, 3: 4, 4: 1}  # the likeliest next token; the end-of-text token is second

    def encode(self, text):
        return [1]

    def decode(self, ids):
        return "".join(self.TEXT[i] for i in ids)

    def token_text(self, token_id):
        return self.TEXT[token_id]

    def chat_prompt(self, message):
        return message

    def next_token_logits(self, ids):
        logits = np.zeros(self.vocab_size, dtype=np.float32)
        logits[self.NEXT[ids[-1]]] = 5.0
        logits[EOS] = 4.0 if len(ids) < 4 else 6.0  # the model wants to end after 3 new tokens
        return logits


# ---- one processor per dial ------------------------------------------------------------------


def test_the_configuration_builds_one_processor_per_dial_in_each_order():
    config = SamplingConfig(temperature=0.7, top_k=40, top_p=0.9, min_p=0.05, repetition_penalty=1.2,
                            frequency_penalty=0.5, no_repeat_ngram_size=3, logit_bias={1: 2.0},
                            allowed_token_ids=[1, 2, 3], min_new_tokens=2)
    before = [type(p) for p in config.before]
    assert before == [processors.AllowedTokenIds, processors.LogitBias, processors.RepetitionPenalty,
                      processors.OpenAIPenalties, processors.NoRepeatNGram, processors.MinNewTokens]
    assert [p.name for p in config.truncation] == ["temperature", "top_k", "top_p", "min_p"]
    llama = config.replace(order="llama.cpp", frequency_penalty=0.0)
    assert [p.name for p in llama.truncation] == ["top_k", "top_p", "min_p", "temperature"]
    assert processors.LlamaCppPenalties in [type(p) for p in llama.before]
    # Dials at their "off" values build no processor before temperature.
    assert SamplingConfig().before == ()


@pytest.mark.parametrize("dial, value, error, words", [
    ("temperature", -1, ValueError, "temperature must be a finite number >= 0"),
    ("top_k", 2.5, TypeError, "top_k must be a whole number"),
    ("top_p", 1.5, ValueError, "top_p must be between 0 and 1"),
    ("min_new_tokens", -1, ValueError, "min_new_tokens must be >= 0"),
    ("logit_bias", {1: 500}, ValueError, "between -100 and 100"),
    ("order", "vllm", ValueError, "order must be one of"),
])
def test_a_bad_dial_is_refused_when_the_configuration_is_made(dial, value, error, words):
    with pytest.raises(error, match=words):
        SamplingConfig(**{dial: value})


def test_a_generation_step_applies_the_chain_once(monkeypatch):
    calls = {"penalize": 0, "run": 0}
    for name in calls:
        original = getattr(Chain, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Chain, name, counted)
    monkeypatch.delenv("COURSE_MIN_MARGIN", raising=False)
    g = generate(WordModel(), "a", max_new_tokens=6, temperature=0.8, top_k=3, top_p=0.9,
                 repetition_penalty=1.3, seed=1)
    assert calls == {"penalize": len(g.steps), "run": len(g.steps)}


def test_the_step_records_what_the_full_distribution_says():
    """The step runs the chain over top-k's survivors only; what it records must equal the full chain."""
    rng = np.random.default_rng(0)
    for case in range(200):
        x = rng.normal(0, 3, size=300)
        config = SamplingConfig(temperature=float(rng.uniform(0.3, 2)), top_k=int(rng.integers(0, 40)),
                                top_p=float(rng.uniform(0.5, 1)), min_p=float(rng.uniform(0, 0.2)),
                                order=["transformers", "llama.cpp"][case % 2], repetition_penalty=1.2)
        chain = Chain(config)
        history = processors.History(np.array([1, 2, 3]), np.array([4, 4]))
        decision = decide(chain, x, history, np.random.default_rng(case), measure=False)
        full = np.exp(np.asarray(chain.final_logits(chain.penalize(x[None], [history])[0]), dtype=np.float64))
        full = full / full.sum()
        assert decision.prob == pytest.approx(full[decision.draw.token], rel=1e-12)
        assert decision.n_kept == np.count_nonzero(full)
        assert decision.rank == np.count_nonzero(full > full[decision.draw.token])


def test_a_grammar_is_a_processor_whose_state_rolls_back():
    model = load_model()
    constraint = TokenConstraint(model.tokenizer, grammar={"syntax": "regex", "definition": "[0-9]{2,6}"})
    chain = Chain(SamplingConfig(temperature=0.0), masks=[constraint])
    digits = model.encode("1234")
    chain.advance(digits[0])
    saved, allowed_then = chain.state(), constraint.allowed()
    for token in digits[1:]:
        chain.advance(token)
    assert not np.array_equal(constraint.allowed(), allowed_then)
    chain.restore(saved)
    assert np.array_equal(constraint.allowed(), allowed_then)
    masked = chain.penalize(np.zeros((1, model.vocab_size)), [NO_HISTORY])
    assert np.array_equal(np.isfinite(masked[0]), allowed_then)


# ---- the model interface ---------------------------------------------------------------------


def test_the_numpy_model_serves_every_feature():
    model = load_model()
    for protocol in (interface.LanguageModel, interface.BatchModel, interface.GrammarModel):
        assert isinstance(model, protocol) and interface.lacks(model, protocol) == []
    assert isinstance(model.new_cache(1), interface.Cache)


def test_a_wrapper_that_forwards_to_a_model_serves_what_it_serves():
    """Python 3.12+ checks runtime Protocols statically; the course's wrappers forward through
    __getattr__ (a model that remembers its logits, one that plays another machine), and must pass."""
    from course_utils.exercises.engine import remembering

    wrapper = remembering(load_model())
    assert interface.lacks(wrapper, interface.BatchModel) == []
    interface.require(wrapper, interface.GrammarModel, "json_schema=")
    assert generate(wrapper, "The capital of France is", max_new_tokens=2, temperature=0).token_ids


def test_a_model_that_cannot_batch_says_so_before_anything_runs():
    from course_utils.adapters import TransformersModel

    adapter = object.__new__(TransformersModel)  # what __init__ sets, without loading torch
    adapter.vocab_size, adapter.eos_ids, adapter.name = 5, frozenset({0}), "a transformers model"
    assert interface.lacks(adapter, interface.LanguageModel) == []
    assert interface.lacks(adapter, interface.BatchModel) == ["new_cache", "forward"]
    with pytest.raises(TypeError, match="generate_batch.*new_cache, forward.*no batched forward pass"):
        generate_batch(adapter, ["a", "b"])
    with pytest.raises(TypeError, match="json_schema= and grammar= needs a model with tokenizer"):
        generate(adapter, "a", grammar="start: /[0-9]+/")


def test_forward_gives_the_logits_at_every_position_and_the_cache_cuts_back():
    model = load_model()
    ids = model.encode("The capital of France is Paris, and")
    cache = model.new_cache(1)
    every = model.forward(np.array([ids]), cache, all_positions=True)[0]
    assert every.shape == (len(ids), model.vocab_size)
    for n in (3, len(ids)):
        assert np.allclose(every[n - 1], model.next_token_logits(ids[:n]), rtol=1e-4, atol=1e-4)
    cache.truncate(4)  # forget everything after the 4th token, then read the rest again
    again = model.forward(np.array([ids[4:]]), cache, all_positions=True)[0]
    assert np.allclose(again, every[4:], rtol=1e-4, atol=1e-4)


# ---- stopping --------------------------------------------------------------------------------


def test_a_stop_string_that_straddles_two_tokens_ends_the_text_before_it():
    g = generate(WordModel(), "a", max_new_tokens=8, temperature=0, min_new_tokens=8, stop=["\nc"])
    assert g.finish_reason == "stop" and g.stop_string == "\nc"
    assert g.text == "b"  # "b\n" + "c": the stop string spans both tokens
    assert g.token_ids == [2, 3]  # every token drawn is kept


def test_the_first_occurrence_of_any_stop_string_wins():
    g = generate(WordModel(), "a", max_new_tokens=8, temperature=0, min_new_tokens=8, stop=["da", "cd", "b"])
    assert (g.text, g.stop_string) == ("", "b")
    g = generate(WordModel(), "a", max_new_tokens=8, temperature=0, min_new_tokens=8, stop=["da", "cd"])
    assert (g.text, g.stop_string) == ("b\n", "cd")


def test_finish_reasons():
    assert generate(WordModel(), "a", max_new_tokens=8, temperature=0).finish_reason == "eos"
    assert generate(WordModel(), "a", max_new_tokens=2, temperature=0).finish_reason == "max_new_tokens"


def test_min_new_tokens_masks_the_end_until_then():
    free = generate(WordModel(), "a", max_new_tokens=10, temperature=0)
    held = generate(WordModel(), "a", max_new_tokens=10, temperature=0, min_new_tokens=5)
    assert free.token_ids == [2, 3, 4, EOS]
    assert held.token_ids == [2, 3, 4, 1, 2, EOS] and held.finish_reason == "eos"
    assert held.settings["min_new_tokens"] == 5


def test_each_row_of_a_batch_stops_on_its_own():
    model = load_model()
    prompts = ["1, 2, 3, 4,", "The cat sat on the"]
    rows = generate_batch(model, prompts, max_new_tokens=12, temperature=0, stop=[" 7", "mat"])
    alone = [generate(model, p, max_new_tokens=12, temperature=0, stop=[" 7", "mat"]) for p in prompts]
    assert [(g.text, g.finish_reason, g.stop_string) for g in rows] == [
        (g.text, g.finish_reason, g.stop_string) for g in alone]
    assert rows[0].finish_reason == "stop" and rows[0].text.endswith("6,")


@pytest.mark.parametrize("stop, error, words", [
    ([""], ValueError, "empty string"),
    (["a", 3], TypeError, r"stop\[1\] is 3"),
    (["a", "b", "c", "d", "e"], ValueError, "up to 4"),
    (b"\n", TypeError, "a string or a list of strings"),
])
def test_bad_stop_strings_are_refused(stop, error, words):
    with pytest.raises(error, match=words):
        generate(WordModel(), "a", stop=stop)


@pytest.mark.reference
def test_stop_strings_and_min_new_tokens_match_transformers():
    """The same greedy tokens as transformers' generate(stop_strings=..., min_new_tokens=...) on the
    course's model. The one difference, by design: transformers keeps the stop string in its
    output; the course (as OpenAI and vLLM) ends the text before it."""
    require_reference()
    import torch

    from course_utils.adapters import TransformersModel

    hf = TransformersModel.bundled(threads=2)
    model = load_model()
    counting, question = "1, 2, 3, 4,", model.chat_prompt("What is 2+2? Answer with a number.")
    for prompt, kwargs in ((counting, {"stop": [" 7,"]}), (question, {"min_new_tokens": 10}), (question, {})):
        ids = model.encode(prompt)
        ours = generate(model, ids, max_new_tokens=16, temperature=0, **kwargs)
        hf_kwargs = {"stop_strings": kwargs["stop"], "tokenizer": hf.hf_tokenizer} if "stop" in kwargs else kwargs
        out = hf.hf_model.generate(torch.tensor([ids]), do_sample=False, max_new_tokens=16,
                                   eos_token_id=sorted(model.eos_ids), pad_token_id=0, **hf_kwargs)
        theirs = out[0, len(ids):].tolist()
        assert ours.token_ids == theirs, kwargs
        if "min_new_tokens" in kwargs:  # the free answer ends after 7 tokens; held, it goes on
            assert len(theirs) > 10
        elif not kwargs:
            assert ours.finish_reason == "eos" and len(theirs) < 10
        if "stop" in kwargs:  # " 7," is three tokens: "␣", "7", ","
            assert ours.finish_reason == "stop"
            hf_text = model.decode(theirs)
            assert hf_text.endswith(" 7,") and ours.text == hf_text[: -len(" 7,")]
