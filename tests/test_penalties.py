"""The stage before the chain: allowed_token_ids, logit_bias, the repetition penalties and n-gram blocking.

Unit and property tests here; the reference tests (`-m reference`) hold the penalties to the
installed transformers' own processors, thousands of random cases each.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import require_reference
from course_utils import ecosystem as eco
from course_utils.generation import generate, generate_batch
from course_utils.sampling import (
    MARGIN_VARIABLE,
    NearTieError,
    draw_next_token,
    next_token_distribution,
    penalize_logits,
    sample_next_token,
    softmax,
)

LOGITS = np.array([2.0, -1.0, 0.5, 0.0, 3.0])


# ---- the rules, checked by hand -----------------------------------------------------------


def test_nothing_set_changes_nothing():
    assert np.array_equal(penalize_logits(LOGITS, prompt_ids=[0, 1], generated_ids=[4]), LOGITS)
    assert np.array_equal(
        next_token_distribution(LOGITS, prompt_ids=[0], generated_ids=[4, 4]), next_token_distribution(LOGITS)
    )


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits_of_seen_tokens():
    out = penalize_logits(LOGITS, prompt_ids=[0, 1], generated_ids=[1, 3], repetition_penalty=2.0)
    # token 0 (2.0, prompt) halves, token 1 (-1.0, both) doubles once, 3 (0.0) stays, 2 and 4 unseen.
    assert out.tolist() == [1.0, -2.0, 0.5, 0.0, 3.0]


def test_repetition_penalty_below_one_makes_seen_tokens_more_likely():
    out = penalize_logits(LOGITS, generated_ids=[0, 1], repetition_penalty=0.5)
    assert out.tolist() == [4.0, -0.5, 0.5, 0.0, 3.0]


def test_openai_frequency_and_presence_count_generated_tokens_only():
    # logit[j] -= count[j] * frequency_penalty + (count[j] > 0) * presence_penalty, by hand:
    # token 4 generated 3 times: 3.0 - 3 * 0.5 - 0.25 = 1.25; token 2 once: 0.5 - 0.5 - 0.25 = -0.25.
    out = penalize_logits(
        LOGITS, prompt_ids=[0, 0, 1], generated_ids=[4, 2, 4, 4], frequency_penalty=0.5, presence_penalty=0.25
    )
    assert out.tolist() == [2.0, -1.0, -0.25, 0.0, 1.25]


def test_negative_openai_penalties_encourage_repeats():
    out = penalize_logits(LOGITS, generated_ids=[1, 1], frequency_penalty=-1.0, presence_penalty=-2.0)
    assert out.tolist() == [2.0, 3.0, 0.5, 0.0, 3.0]  # -1 + 2 * 1 + 2


def test_repetition_then_frequency_as_vllm_orders_them():
    # vLLM: repetition penalty first, then frequency and presence. Token 4: 3.0 / 1.5 - 2 * 1.0 = 0.0.
    out = penalize_logits(LOGITS, generated_ids=[4, 4], repetition_penalty=1.5, frequency_penalty=1.0)
    assert out[4] == 0.0


def test_no_repeat_ngram_bans_the_token_that_would_repeat_a_trigram():
    # "5 1 2 ... 5 1" -> the next token may not be 2 (that would repeat "5 1 2").
    vocab = np.zeros(8)
    out = penalize_logits(vocab, prompt_ids=[5, 1, 2, 7], generated_ids=[5, 1], no_repeat_ngram_size=3)
    assert np.isneginf(out).tolist() == [False, False, True, False, False, False, False, False]


def test_no_repeat_unigram_bans_every_seen_token():
    out = penalize_logits(np.zeros(6), prompt_ids=[1, 3], generated_ids=[3, 5], no_repeat_ngram_size=1)
    assert np.flatnonzero(np.isneginf(out)).tolist() == [1, 3, 5]


def test_ngram_blocking_needs_a_full_ngram_of_history():
    out = penalize_logits(np.zeros(4), prompt_ids=[1], generated_ids=[1], no_repeat_ngram_size=3)
    assert not np.isneginf(out).any()


def test_ngram_blocking_that_bans_every_token_gets_the_all_masked_error():
    with pytest.raises(ValueError, match="every entry of a row of logits is -inf.*no_repeat_ngram_size=1"):
        next_token_distribution(np.zeros(3), prompt_ids=[0, 1], generated_ids=[2], no_repeat_ngram_size=1)


def test_logit_bias_adds_and_allowed_token_ids_masks():
    out = penalize_logits(LOGITS, logit_bias={1: 5.0, 4: -100}, allowed_token_ids=[1, 2, 4])
    assert out[1] == 4.0 and out[2] == 0.5 and out[4] == -97.0
    assert np.isneginf(out[[0, 3]]).all()


def test_logit_bias_of_minus_100_bans_and_plus_100_forces_in_practice():
    probs = next_token_distribution(LOGITS, logit_bias={4: -100})
    assert probs[4] < 1e-40
    forced = next_token_distribution(LOGITS, logit_bias={1: 100})
    assert np.delete(forced, 1).sum() < 1e-40


def test_llama_cpp_order_counts_a_window_of_prompt_and_generated_ids():
    # Window of the last 3 ids: [1, 4, 4]; token 0 (only earlier in the prompt) is not penalised.
    out = penalize_logits(
        LOGITS, prompt_ids=[0, 0, 1], generated_ids=[4, 4], repetition_penalty=2.0, frequency_penalty=0.5,
        presence_penalty=0.25, repeat_last_n=3, order="llama.cpp",
    )
    # token 1: -1 * 2 - (0.5 + 0.25) = -2.75; token 4: 3 / 2 - (2 * 0.5 + 0.25) = 0.25
    assert out.tolist() == [2.0, -2.75, 0.5, 0.0, 0.25]


def test_llama_cpp_repeat_last_n_zero_turns_its_penalties_off():
    out = penalize_logits(LOGITS, generated_ids=[4], repetition_penalty=2.0, repeat_last_n=0, order="llama.cpp")
    assert np.array_equal(out, LOGITS)


def test_llama_cpp_default_window_is_64():
    ids = [0] + [2] * 64
    out = penalize_logits(LOGITS, generated_ids=ids, repetition_penalty=2.0, order="llama.cpp")
    assert out[0] == 2.0 and out[2] == 0.25  # token 0 fell out of the 64-token window


def test_batches_take_one_history_per_row():
    logits = np.stack([LOGITS, LOGITS])
    out = penalize_logits(logits, prompt_ids=[[0], [4]], generated_ids=[[], [1]], repetition_penalty=2.0)
    assert out[0].tolist() == [1.0, -1.0, 0.5, 0.0, 3.0]
    assert out[1].tolist() == [2.0, -2.0, 0.5, 0.0, 1.5]
    row = sample_next_token(logits, rng=np.random.default_rng(0), temperature=0, prompt_ids=[[4], [0]],
                            repetition_penalty=10.0)
    assert row.tolist() == [0, 4]


def test_penalties_act_before_temperature_and_truncation_in_both_orders():
    for order in ("transformers", "llama.cpp"):
        direct = next_token_distribution(
            penalize_logits(LOGITS, generated_ids=[4], repetition_penalty=3.0, order=order),
            temperature=0.5, top_k=2, order=order,
        )
        chained = next_token_distribution(
            LOGITS, generated_ids=[4], repetition_penalty=3.0, temperature=0.5, top_k=2, order=order
        )
        np.testing.assert_allclose(chained, direct)
        assert chained[0] > chained[4] > 0  # 3 / 3 = 1 < 2: the penalty demoted the top token


def test_greedy_with_a_penalty_breaks_the_loop():
    assert sample_next_token(LOGITS, rng=np.random.default_rng(0), temperature=0) == 4
    assert sample_next_token(LOGITS, rng=np.random.default_rng(0), temperature=0, generated_ids=[4],
                             repetition_penalty=2.0) == 0


def test_draw_margin_is_in_raw_logit_units():
    # Greedy, penalty 2: penalized logits [1.0, ..., 3.0 -> 1.5] leave a gap of 0.5 (margin 0.25);
    # in raw logits the slope 1/2 makes that margin 0.25 / 2.
    draw = draw_next_token(LOGITS, rng=np.random.default_rng(0), temperature=0, generated_ids=[0, 4],
                           repetition_penalty=2.0)
    assert draw.token == 4 and draw.margin == pytest.approx(0.125)


def test_near_tie_after_a_penalty_is_refused(monkeypatch):
    monkeypatch.setenv(MARGIN_VARIABLE, "0.2")
    with pytest.raises(NearTieError):
        draw_next_token(LOGITS, rng=np.random.default_rng(0), temperature=0, generated_ids=[0, 4],
                        repetition_penalty=2.0)


def test_sample_next_token_matches_draw_next_token_with_penalties():
    kwargs = dict(temperature=0.8, top_p=0.9, prompt_ids=[0], generated_ids=[4, 2], repetition_penalty=1.3,
                  frequency_penalty=0.4, no_repeat_ngram_size=2)
    for seed in range(20):
        a = sample_next_token(LOGITS, rng=np.random.default_rng(seed), **kwargs)
        b = draw_next_token(LOGITS, rng=np.random.default_rng(seed), **kwargs).token
        assert a == b


def test_the_input_logits_are_not_modified():
    logits = LOGITS.copy()
    penalize_logits(logits, generated_ids=[4], repetition_penalty=2.0, logit_bias={0: 1.0}, no_repeat_ngram_size=1)
    assert np.array_equal(logits, LOGITS)


# ---- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(repetition_penalty=0.0), ValueError, "repetition_penalty must be a finite number > 0"),
        (dict(repetition_penalty=-1.2), ValueError, "repetition_penalty"),
        (dict(repetition_penalty=math.nan), ValueError, "repetition_penalty"),
        (dict(repetition_penalty=math.inf), ValueError, "repetition_penalty"),
        (dict(repetition_penalty="1.2"), TypeError, "repetition_penalty"),
        (dict(frequency_penalty=2.5), ValueError, "frequency_penalty must be between -2 and 2"),
        (dict(presence_penalty=math.nan), ValueError, "presence_penalty"),
        (dict(presence_penalty=True), TypeError, "presence_penalty"),
        (dict(no_repeat_ngram_size=-1), ValueError, "no_repeat_ngram_size must be >= 0"),
        (dict(no_repeat_ngram_size=2.0), TypeError, "no_repeat_ngram_size"),
        (dict(repeat_last_n=-1, order="llama.cpp"), ValueError, "repeat_last_n must be >= 0"),
        (dict(repeat_last_n=32), ValueError, "repeat_last_n=32 is llama.cpp's window"),
        (dict(logit_bias={1: 101}), ValueError, r"logit_bias\[1\] = 101"),
        (dict(logit_bias={1: math.nan}), ValueError, "logit_bias"),
        (dict(logit_bias={"1": 5}), TypeError, "logit_bias keys must be token ids"),
        (dict(logit_bias=[(1, 5)]), TypeError, "logit_bias must be a dict"),
        (dict(logit_bias={9: 5}), ValueError, "logit_bias contains 9"),
        (dict(allowed_token_ids=[]), ValueError, "allowed_token_ids is empty"),
        (dict(allowed_token_ids=[1, 7]), ValueError, "allowed_token_ids contains 7"),
        (dict(allowed_token_ids=[1.0]), TypeError, "allowed_token_ids"),
        (dict(prompt_ids=[0, 5]), ValueError, "prompt_ids contains 5, which is not a token id"),
        (dict(generated_ids=[-1]), ValueError, "generated_ids contains -1"),
        (dict(generated_ids=[1.5]), TypeError, "generated_ids must be a flat list of token ids"),
        (dict(generated_ids=[True]), TypeError, "generated_ids"),
        (dict(prompt_ids="hello"), TypeError, "prompt_ids"),
        (dict(prompt_ids=[[1], [2]]), TypeError, "prompt_ids"),
    ],
)
def test_bad_input_gets_a_clear_error(kwargs, error, message):
    with pytest.raises(error, match=message):
        next_token_distribution(LOGITS, **kwargs)


def test_a_batch_needs_one_history_per_row():
    with pytest.raises(ValueError, match="the logits have 2 rows, prompt_ids has 3"):
        penalize_logits(np.zeros((2, 4)), prompt_ids=[[0], [1], [2]])
    with pytest.raises(ValueError, match="generated_ids"):
        sample_next_token(np.zeros((2, 4)), rng=np.random.default_rng(0), generated_ids=[0, 1])


def test_unknown_setting_names_are_refused():
    with pytest.raises(TypeError, match="'repetition_penality' is not a sampling setting"):
        draw_next_token(LOGITS, rng=np.random.default_rng(0), repetition_penality=1.2)


# ---- properties -----------------------------------------------------------------------------

ids_lists = st.lists(st.integers(0, 11), max_size=30)
logit_rows = st.lists(st.floats(-20, 20, allow_nan=False), min_size=12, max_size=12).map(np.array)


@settings(max_examples=200, deadline=None)
@given(logit_rows, ids_lists, ids_lists, st.floats(1.0, 5.0))
def test_a_penalty_above_one_never_raises_a_seen_token_or_touches_others(x, prompt, generated, penalty):
    out = penalize_logits(x, prompt_ids=prompt, generated_ids=generated, repetition_penalty=penalty)
    seen = np.zeros(12, dtype=bool)
    seen[prompt + generated] = True
    assert (out[seen] <= x[seen]).all()
    assert np.array_equal(out[~seen], x[~seen])


@settings(max_examples=200, deadline=None)
@given(logit_rows, ids_lists, st.floats(0.0, 2.0), st.floats(0.0, 2.0))
def test_openai_penalties_lower_each_logit_by_its_formula(x, generated, frequency, presence):
    out = penalize_logits(x, generated_ids=generated, frequency_penalty=frequency, presence_penalty=presence)
    counts = np.bincount(np.array(generated, dtype=int), minlength=12)
    np.testing.assert_allclose(out, x - counts * frequency - (counts > 0) * presence, atol=1e-12)


@settings(max_examples=200, deadline=None)
@given(ids_lists.filter(lambda ids: len(ids) >= 2), st.integers(1, 4))
def test_no_token_that_completes_a_repeated_ngram_survives(ids, n):
    # One token more than the ids use, which no history can ban: a row where every token is banned
    # is an error (tested elsewhere), not a case of this property.
    out = penalize_logits(np.zeros(13), generated_ids=ids, no_repeat_ngram_size=n) if len(ids) >= n else None
    if out is None:
        return
    history = tuple(ids)
    for token in np.flatnonzero(np.isfinite(out)):
        candidate = history + (int(token),)
        new = candidate[-n:]
        assert all(candidate[i : i + n] != new for i in range(len(candidate) - n))


@settings(max_examples=100, deadline=None)
@given(logit_rows, ids_lists, st.floats(0.5, 3.0), st.sampled_from(["transformers", "llama.cpp"]))
def test_the_penalized_distribution_is_a_distribution(x, generated, penalty, order):
    probs = next_token_distribution(x, generated_ids=generated, repetition_penalty=penalty, temperature=0.7,
                                    top_p=0.9, order=order)
    assert probs.sum() == pytest.approx(1.0) and (probs >= 0).all()


# ---- the in-the-wild table ------------------------------------------------------------------


def test_every_library_has_a_row_for_every_dial_and_a_source():
    assert set(eco.PENALTIES) == set(eco.LIBRARIES)
    for lib, entry in eco.PENALTIES.items():
        assert [d.knob for d in entry.dials] == list(eco.PENALTY_DIALS)
        assert all(d.library == lib for d in entry.dials)
        assert entry.source and entry.counts and entry.chain
    table = eco.penalty_table_markdown()
    assert "counts" in table and " counts " not in eco.penalty_table_markdown(("logit_bias",))
    assert "| repetition_penalty |" in table and "`--repeat-last-n / repeat_last_n` = **64**" in table
    with pytest.raises(ValueError, match="not a repetition dial"):
        eco.penalty_table_markdown(("repeat_penalty",))


def test_every_chain_puts_the_penalties_before_temperature():
    for lib in ("Hugging Face transformers", "llama.cpp", "vLLM"):
        chain = eco.PENALTIES[lib].chain
        penalty = next(i for i, stage in enumerate(chain) if "penalt" in stage)
        assert penalty < chain.index("temperature")


# ---- against the installed transformers -----------------------------------------------------


def _random_case(rng):
    vocab = int(rng.integers(2, 80))
    x = rng.normal(0.0, rng.uniform(0.5, 5.0), size=vocab)
    x[rng.random(vocab) < 0.05] = 0.0  # exact zeros: the penalty's sign rule must not move them
    ids = rng.integers(0, vocab, size=int(rng.integers(1, 40)))
    if rng.random() < 0.5:  # loops, so that n-grams repeat
        period = int(rng.integers(1, 5))
        ids = np.resize(ids[:period], len(ids))
    cut = int(rng.integers(0, len(ids) + 1))
    return x, ids, cut


@pytest.mark.reference
def test_repetition_penalty_equals_transformers_processor():
    require_reference()
    import torch
    from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor

    rng = np.random.default_rng(14)
    for _ in range(3000):
        x, ids, cut = _random_case(rng)
        penalty = float(rng.choice([rng.uniform(0.1, 1.0), rng.uniform(1.0, 4.0)]))
        theirs = RepetitionPenaltyLogitsProcessor(penalty)(torch.tensor(ids[None]), torch.tensor(x[None]))[0]
        ours = penalize_logits(x, prompt_ids=ids[:cut], generated_ids=ids[cut:], repetition_penalty=penalty)
        np.testing.assert_array_equal(ours, theirs.numpy())


@pytest.mark.reference
def test_no_repeat_ngram_equals_transformers_processor():
    require_reference()
    import torch
    from transformers.generation.logits_process import NoRepeatNGramLogitsProcessor

    rng = np.random.default_rng(15)
    compared = all_banned = 0
    for _ in range(3000):
        x, ids, cut = _random_case(rng)
        n = int(rng.integers(1, 6))
        theirs = NoRepeatNGramLogitsProcessor(n)(torch.tensor(ids[None]), torch.tensor(x[None]))[0].numpy()
        if np.isneginf(theirs).all():
            all_banned += 1
            with pytest.raises(ValueError, match="every entry of a row of logits is -inf"):
                penalize_logits(x, prompt_ids=ids[:cut], generated_ids=ids[cut:], no_repeat_ngram_size=n)
            continue
        ours = penalize_logits(x, prompt_ids=ids[:cut], generated_ids=ids[cut:], no_repeat_ngram_size=n)
        np.testing.assert_array_equal(ours, theirs)
        compared += 1
    assert compared > 2000 and all_banned > 0


@pytest.mark.reference
def test_batched_penalties_equal_transformers_on_float32_rows():
    require_reference()
    import torch
    from transformers.generation.logits_process import NoRepeatNGramLogitsProcessor, RepetitionPenaltyLogitsProcessor

    rng = np.random.default_rng(16)
    for _ in range(200):
        x = rng.normal(0, 3, size=(4, 50)).astype(np.float32)
        ids = rng.integers(0, 50, size=(4, 25))
        ids[:, 12:] = ids[:, :13]  # repeats
        theirs = NoRepeatNGramLogitsProcessor(3)(torch.tensor(ids), RepetitionPenaltyLogitsProcessor(1.3)(
            torch.tensor(ids), torch.tensor(x)))
        ours = penalize_logits(x.astype(np.float64), prompt_ids=ids[:, :5].tolist(), generated_ids=ids[:, 5:].tolist(),
                               repetition_penalty=1.3, no_repeat_ngram_size=3)
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-6)


@pytest.mark.reference
def test_transformers_applies_the_penalties_before_the_warpers_in_the_order_recorded():
    require_reference()
    import inspect

    from transformers import GenerationConfig
    from transformers.generation.utils import GenerationMixin

    source = inspect.getsource(GenerationMixin._get_logits_processor)
    positions = [source.index(name) for name in (
        "SequenceBiasLogitsProcessor", "RepetitionPenaltyLogitsProcessor", "NoRepeatNGramLogitsProcessor",
        "TemperatureLogitsWarper", "TopKLogitsWarper", "TopPLogitsWarper", "MinPLogitsWarper",
    )]
    assert positions == sorted(positions)
    defaults = GenerationConfig._get_default_generation_params()
    hf = eco.PENALTIES["Hugging Face transformers"]
    assert defaults["repetition_penalty"] == hf.dial("repetition_penalty").default == 1.0
    assert defaults["no_repeat_ngram_size"] == hf.dial("no_repeat_ngram_size").default == 0


def test_softmax_of_penalized_logits_is_next_token_distribution_at_t1():
    out = penalize_logits(LOGITS, generated_ids=[4], repetition_penalty=2.0)
    np.testing.assert_allclose(softmax(out), next_token_distribution(LOGITS, generated_ids=[4], repetition_penalty=2.0))


# ---- in generate() and generate_batch() ------------------------------------------------------


def test_generate_penalises_the_prompt_and_its_own_tokens():
    from test_generation import EOS, FakeModel

    # Greedy loops " b a b a ..."; with a strong penalty every seen token drops below "\nc",
    # whose successor is the end of sequence.
    assert generate(FakeModel(), [1], temperature=0, max_new_tokens=5).token_ids == [2, 1, 2, 1, 2]
    model = FakeModel()
    g = generate(model, [1], temperature=0, max_new_tokens=5, repetition_penalty=10.0)
    assert g.token_ids == [2, 3, EOS]
    for ids, step in zip(model.calls, g.steps):
        final = next_token_distribution(FakeModel.LOGITS[ids[-1]], temperature=0, prompt_ids=[1],
                                        generated_ids=ids[1:], repetition_penalty=10.0)
        assert step.prob == final[step.token_id]
    assert g.settings["repetition_penalty"] == 10.0


@pytest.fixture(scope="module")
def model():
    from course_utils.model import load_model

    return load_model()


def test_no_repeat_ngram_size_leaves_no_repeated_trigram(model):
    prompt = "The Romans built roads that were built to"
    g = generate(model, prompt, temperature=0, max_new_tokens=24, no_repeat_ngram_size=3)
    ids = g.prompt_ids + g.token_ids
    trigrams = [tuple(ids[i : i + 3]) for i in range(len(ids) - 2)]
    assert len(trigrams) == len(set(trigrams))


def test_batch_with_penalties_equals_one_at_a_time(model):
    prompts = ["The AI-powered, AI-assisted, and", "Once upon a time"]
    settings = dict(max_new_tokens=10, temperature=0.8, top_p=0.95, repetition_penalty=1.3, frequency_penalty=0.5,
                    presence_penalty=0.2, no_repeat_ngram_size=2, logit_bias={13: -100})
    batch = generate_batch(model, prompts, seed=3, **settings)
    for i, prompt in enumerate(prompts):
        alone = generate(model, prompt, seed=3 + i, **settings)
        assert batch[i].token_ids == alone.token_ids
        assert 13 not in alone.token_ids


def test_generate_checks_ids_against_the_model_vocabulary(model):
    with pytest.raises(ValueError, match="logit_bias contains 49152"):
        generate(model, "Hi", logit_bias={49152: 1.0})
    with pytest.raises(ValueError, match="repetition_penalty must be a finite number > 0"):
        generate_batch(model, ["Hi"], repetition_penalty=0)


def test_llama_cpp_order_in_generate(model):
    g = generate(model, "The Romans built roads that were built to", temperature=0, max_new_tokens=8,
                 order="llama.cpp", repetition_penalty=1.5, repeat_last_n=8)
    assert g.settings["repeat_last_n"] == 8 and len(g.token_ids) >= 1


def test_sampling_stages_show_the_penalties_stage_only_when_a_dial_is_set():
    from course_utils.sampling import sampling_stages

    plain = sampling_stages(LOGITS, temperature=0.7, top_k=3)
    assert [s.name for s in plain] == ["input", "temperature", "top_k", "top_p", "min_p"]
    stages = sampling_stages(LOGITS, temperature=0.7, top_k=3, generated_ids=[4, 4], repetition_penalty=2.0,
                             no_repeat_ngram_size=1)
    assert [s.name for s in stages] == ["input", "penalties", "temperature", "top_k", "top_p", "min_p"]
    assert stages[1].label == "repetition 2, no-repeat 1-gram"
    np.testing.assert_allclose(stages[0].probs, softmax(LOGITS))
    np.testing.assert_allclose(stages[1].probs, softmax(penalize_logits(
        LOGITS, generated_ids=[4, 4], repetition_penalty=2.0, no_repeat_ngram_size=1)))
    assert stages[1].probs[4] == 0.0
    np.testing.assert_allclose(stages[-1].probs, next_token_distribution(
        LOGITS, temperature=0.7, top_k=3, generated_ids=[4, 4], repetition_penalty=2.0, no_repeat_ngram_size=1))


@pytest.mark.reference
def test_prompt_ignore_length_leaves_the_prompt_out_as_generated_ids_only_does():
    """The fix lesson 06 names for the " Paris" side effect: transformers' RepetitionPenaltyLogitsProcessor
    with prompt_ignore_length counts only the tokens after the prompt, which is the course's
    penalize_logits with the prompt left out; generate() itself passes only the padding there."""
    require_reference()
    import torch
    from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor

    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=50).astype(np.float32)
    prompt, generated = [3, 7, 7, 11], [12, 3, 40]
    processor = RepetitionPenaltyLogitsProcessor(1.3, prompt_ignore_length=len(prompt))
    theirs = processor(torch.tensor([prompt + generated]), torch.from_numpy(logits[None].copy()))[0].numpy()
    ours = penalize_logits(logits, generated_ids=generated, repetition_penalty=1.3)
    assert np.allclose(theirs, ours, rtol=1e-6)
    assert not np.allclose(ours, penalize_logits(logits, prompt_ids=prompt, generated_ids=generated, repetition_penalty=1.3))
