"""The "in the wild" data: complete, well-formed, and (where a library is installed) true."""

import importlib
import math

import pytest

from conftest import require_reference
from course_utils import ecosystem as eco


def test_every_library_has_a_row_for_every_dial():
    pairs = [(p.library, p.knob) for p in eco.PARAMETERS]
    assert len(pairs) == len(set(pairs)), "a (library, dial) pair appears twice"
    assert set(pairs) == {(lib, k) for lib in eco.LIBRARIES for k in eco.KNOBS}


def test_unsupported_dials_carry_no_values():
    for p in eco.PARAMETERS:
        if not p.supported:
            assert p.default is None and p.name == "", p


def test_the_lesson_04_facts():
    assert eco.defaults("OpenAI API") == {"temperature": 1.0, "top_p": 1.0}
    assert eco.defaults("Hugging Face transformers") == {
        "temperature": 1.0, "top_k": 50, "top_p": 1.0, "min_p": None}
    assert eco.defaults("llama.cpp") == {"temperature": 0.8, "top_k": 40, "top_p": 0.95, "min_p": 0.05}
    assert eco.defaults("vLLM") == {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0}


def test_chain_orders_are_the_two_the_sampling_core_implements():
    assert eco.CHAIN_ORDER["Hugging Face transformers"][0] == "temperature"
    assert eco.CHAIN_ORDER["llama.cpp"][-1] == "temperature"
    for order in eco.CHAIN_ORDER.values():
        assert sorted(order) == sorted(eco.KNOBS)


def test_defaults_are_in_the_course_sampling_range():
    for p in eco.PARAMETERS:
        if p.default is None:
            continue
        assert math.isfinite(p.default)
        if p.knob in ("top_p", "min_p"):
            assert 0.0 <= p.default <= 1.0, p
        if p.knob == "temperature":
            assert p.default > 0, p


def test_tables_render_every_library_and_dial():
    table = eco.parameter_table_markdown()
    header = table.splitlines()[0]
    for lib in eco.LIBRARIES:
        assert lib in header
    for knob in eco.KNOBS:
        assert f"| {knob} |" in table
    assert "**50**" in table and "**0.05**" in table
    greedy = eco.greedy_table_markdown()
    assert all(lib in greedy for lib in eco.LIBRARIES)


@pytest.mark.parametrize("library, knob", [("vllm", "top_k"), ("Hugging Face", "top_k"), ("llama.cpp", "typical_p")])
def test_unknown_names_get_a_clear_error(library, knob):
    with pytest.raises(ValueError, match="choose one of"):
        eco.spec(library, knob)


def test_module_imports_nothing_of_the_course():
    source = importlib.util.find_spec("course_utils.ecosystem").origin
    text = open(source, encoding="utf-8").read()
    assert "from course_utils" not in text and "from ." not in text and "import course_utils" not in text


@pytest.mark.reference
def test_hugging_face_defaults_match_the_installed_library():
    require_reference()
    from transformers import GenerationConfig

    if hasattr(GenerationConfig, "_get_default_generation_params"):  # transformers 5.x
        installed = GenerationConfig._get_default_generation_params()
    else:  # 4.x keeps the defaults on a fresh config
        config = GenerationConfig()
        installed = {k: getattr(config, k) for k in ("do_sample", "temperature", "top_k", "top_p")}
    assert installed["do_sample"] is False
    for knob in ("temperature", "top_k", "top_p"):
        assert installed[knob] == eco.spec("Hugging Face transformers", knob).default, knob
    assert GenerationConfig().min_p is None


@pytest.mark.reference
def test_hugging_face_rejects_temperature_zero_when_sampling():
    require_reference()
    from transformers.generation.logits_process import TemperatureLogitsWarper

    with pytest.raises(ValueError, match="do_sample=False"):
        TemperatureLogitsWarper(0.0)


def test_a_table_of_one_dial_has_only_its_row_and_notes():
    table = eco.parameter_table_markdown(("temperature",))
    assert "| temperature |" in table and "| top_k |" not in table
    assert "do_sample" in table and "top_k=0" not in table
    with pytest.raises(ValueError, match="choose one of"):
        eco.parameter_table_markdown(("temp",))


def test_every_library_says_where_it_was_checked():
    assert set(eco.SOURCES) == set(eco.LIBRARIES)
    listing = eco.sources_markdown()
    assert all(f"**{lib}**" in listing for lib in eco.LIBRARIES)
    assert "001d906" in eco.SOURCES["llama.cpp"]


@pytest.mark.reference
def test_hugging_face_generate_refuses_temperature_zero_but_greedy_works():
    require_reference()
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=16, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=32,
    )
    model = LlamaForCausalLM(config).eval()
    ids = torch.tensor([[1, 2, 3]])
    with pytest.raises(ValueError, match="do_sample=False"):
        model.generate(ids, do_sample=True, temperature=0.0, max_new_tokens=2, pad_token_id=0)
    greedy = model.generate(ids, do_sample=False, max_new_tokens=2, pad_token_id=0)
    with torch.no_grad():
        first = int(model(ids).logits[0, -1].argmax())
    assert int(greedy[0, 3]) == first


@pytest.mark.reference
def test_hugging_face_draws_with_torch_multinomial():
    # ecosystem.DRAW: transformers inverts the distribution's CDF (torch.multinomial); the
    # course draws by exponential race, so the same seed gives different tokens there.
    require_reference()
    import inspect

    from transformers.generation.utils import GenerationMixin

    assert "torch.multinomial(probs, num_samples=1)" in inspect.getsource(GenerationMixin._sample)
    assert "torch.multinomial" in eco.DRAW["Hugging Face transformers"]
