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
    record = eco.reference_markdown()  # docs/ecosystem.md, which the lessons link
    assert all(f"**{lib}**: {eco.SOURCES[lib]}" in record for lib in eco.LIBRARIES)
    assert "001d906" in eco.SOURCES["llama.cpp"]


def test_a_lesson_shows_a_fact_without_where_it_was_checked():
    fact = ("n_probs: a softmax of the raw logits (tools/server/README.md); off by default "
            "(common/common.h, commit 001d906); tests/test_x.py re-checks it")
    assert eco.learner_text(fact) == "n_probs: a softmax of the raw logits; off by default"
    assert eco.learner_text("greedy (the default), or T = 0") == "greedy (the default), or T = 0"
    assert "commit" not in eco.facts_markdown(eco.LOGPROBS) and "tests/" not in eco.penalty_chain_markdown()


def _tiny_llama():
    """A random one-layer Llama with a 16-token vocabulary: real generate() code, in milliseconds."""
    require_reference()
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=16, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=32,
    )
    return LlamaForCausalLM(config).eval(), torch.tensor([[1, 2, 3]])


@pytest.mark.reference
def test_hugging_face_generate_refuses_temperature_zero_but_greedy_works():
    import torch

    model, ids = _tiny_llama()
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


# Facts of issue 13: each dict row the course states, checked against the installed library
# where one is installed (the rest cite their source in ecosystem.py).


def test_new_fact_tables_cover_every_library_they_name():
    assert set(eco.LOGPROBS) == set(eco.LIBRARIES)
    for text in (*eco.LOGPROBS.values(), *eco.DYNAMIC_TEMPERATURE.values(), *eco.SERVER_DETERMINISM.values()):
        assert text.strip(), "an empty fact"
    for library, text in {**eco.LOGPROBS, **eco.SERVER_DETERMINISM}.items():
        if library != "this course":
            assert "(" in text and ")" in text, f"{library}: no source cited"
    assert set(eco.HUGGING_FACE_GENERATE) == {
        "temperature=0", "top_k=0", "defaults", "compute_transition_scores", "float32 logits"}


def test_full_chains_reduce_to_the_course_chain_orders():
    # The course's four dials appear in each full chain in the order CHAIN_ORDER gives.
    for library, order in eco.CHAIN_ORDER.items():
        assert tuple(step for step in eco.SAMPLER_CHAIN[library] if step in eco.KNOBS) == order, library
    assert eco.SAMPLER_CHAIN["llama.cpp"][0] == "penalties" and eco.SAMPLER_CHAIN["llama.cpp"][-1] == "temperature"


def test_vllm_returns_logits_and_the_whole_vocabulary_on_request():
    # "APIs return log-probabilities, never logits" is false for vLLM.
    assert "raw_logits" in eco.LOGPROBS["vLLM"] and "logprobs=-1" in eco.LOGPROBS["vLLM"]
    assert "never logits" in eco.LOGPROBS["OpenAI API"]


@pytest.mark.reference
def test_hugging_face_ignores_temperature_zero_when_greedy():
    # ecosystem.HUGGING_FACE_GENERATE["temperature=0"]: with do_sample=False, T = 0 is flagged as
    # a minor issue (a warning, not an error) and generate() runs greedy decoding.
    import torch
    from transformers import GenerationConfig

    model, ids = _tiny_llama()
    with_zero = model.generate(ids, do_sample=False, temperature=0.0, max_new_tokens=3, pad_token_id=0)
    plain = model.generate(ids, do_sample=False, max_new_tokens=3, pad_token_id=0)
    assert torch.equal(with_zero, plain)
    with pytest.raises(ValueError, match="`temperature` is set to `0.0`"):
        GenerationConfig(do_sample=False, temperature=0.0).validate(strict=True)
    assert "ignored with a warning" in eco.HUGGING_FACE_GENERATE["temperature=0"]


@pytest.mark.reference
def test_hugging_face_top_k_zero_adds_no_top_k_step():
    from transformers import GenerationConfig

    model, ids = _tiny_llama()

    def warpers(**settings):
        processors = model._get_logits_processor(
            generation_config=GenerationConfig(do_sample=True, **settings), input_ids_seq_length=ids.shape[1],
            encoder_input_ids=ids, prefix_allowed_tokens_fn=None, logits_processor=None, device="cpu",
        )
        return [type(p).__name__ for p in processors]

    assert "TopKLogitsWarper" not in warpers(top_k=0)
    assert "TopKLogitsWarper" in warpers(top_k=50)


@pytest.mark.reference
def test_hugging_face_warper_order_matches_sampler_chain():
    from transformers import GenerationConfig

    model, ids = _tiny_llama()
    every_warper = GenerationConfig(
        do_sample=True, temperature=0.7, top_h=0.5, top_k=5, top_p=0.9, min_p=0.1, typical_p=0.9,
        epsilon_cutoff=1e-4, eta_cutoff=1e-4,
    )
    processors = model._get_logits_processor(
        generation_config=every_warper, input_ids_seq_length=ids.shape[1], encoder_input_ids=ids,
        prefix_allowed_tokens_fn=None, logits_processor=None, device="cpu",
    )
    step_of = {"TemperatureLogitsWarper": "temperature", "TopHLogitsWarper": "top_h", "TopKLogitsWarper": "top_k",
               "TopPLogitsWarper": "top_p", "MinPLogitsWarper": "min_p", "TypicalLogitsWarper": "typical_p",
               "EpsilonLogitsWarper": "epsilon_cutoff", "EtaLogitsWarper": "eta_cutoff"}
    assert tuple(step_of[type(p).__name__] for p in processors) == eco.SAMPLER_CHAIN["Hugging Face transformers"]


@pytest.mark.reference
def test_hugging_face_transition_scores_normalise_the_processed_scores():
    # ecosystem.HUGGING_FACE_GENERATE["compute_transition_scores"]: normalize_logits=True gives the
    # log-probability under the distribution after temperature and top-k, not the model's own.
    import torch

    model, ids = _tiny_llama()
    out = model.generate(
        ids, do_sample=True, temperature=0.5, top_k=3, max_new_tokens=1, pad_token_id=0,
        return_dict_in_generate=True, output_scores=True, output_logits=True,
    )
    token = out.sequences[0, ids.shape[1]]
    reported = model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)[0, 0]
    processed = torch.log_softmax(out.scores[0][0], dim=-1)[token]
    models_own = torch.log_softmax(out.logits[0][0], dim=-1)[token]
    assert torch.isclose(reported, processed, atol=1e-6)
    assert not torch.isclose(reported, models_own, atol=1e-3)


@pytest.mark.reference
def test_hugging_face_generation_config_json_outranks_the_library_defaults(tmp_path):
    # ecosystem.HUGGING_FACE_GENERATE["defaults"]: kwargs > the checkpoint's generation_config.json
    # > library defaults. Save a checkpoint that ships sampling settings, as many instruct models do.
    from transformers import AutoModelForCausalLM, GenerationConfig

    model, _ = _tiny_llama()
    model.generation_config = GenerationConfig(do_sample=True, temperature=0.6, top_k=20, top_p=0.95)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "generation_config.json").exists()
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)

    from_file, _ = loaded._prepare_generation_config(None)
    assert (from_file.do_sample, from_file.temperature, from_file.top_k, from_file.top_p) == (True, 0.6, 20, 0.95)
    overridden, _ = loaded._prepare_generation_config(None, top_k=7)
    assert overridden.top_k == 7 and overridden.temperature == 0.6
    bare, _ = _tiny_llama()[0]._prepare_generation_config(None)
    assert (bare.do_sample, bare.top_k) == (False, eco.spec("Hugging Face transformers", "top_k").default)


@pytest.mark.reference
def test_hugging_face_samples_from_float32_logits():
    import torch

    model, ids = _tiny_llama()
    model = model.to(torch.bfloat16)
    assert model(ids).logits.dtype == torch.bfloat16
    out = model.generate(ids, do_sample=False, max_new_tokens=1, pad_token_id=0,
                         return_dict_in_generate=True, output_logits=True)
    assert out.logits[0].dtype == torch.float32
    assert "float32" in eco.HUGGING_FACE_GENERATE["float32 logits"]


@pytest.mark.reference
def test_float_formats():
    require_reference()
    import numpy as np
    import torch

    assert torch.finfo(torch.float16).max == 65504
    assert torch.finfo(torch.bfloat16).max == pytest.approx(torch.finfo(torch.float32).max, rel=0.01)
    with np.errstate(over="ignore"):
        assert np.isfinite(np.exp(np.float16(11.0))) and np.isinf(np.exp(np.float16(11.2)))
    assert "65504" in eco.FLOAT_FORMATS["float16"] and "11.1" in eco.FLOAT_FORMATS["float16"]


def test_the_course_places_the_samplers_in_each_librarys_chain_order():
    from course_utils.chain import SamplingConfig

    every = dict(typical_p=0.9, epsilon_cutoff=1e-4, eta_cutoff=1e-3, top_n_sigma=1.0, xtc_probability=0.5)
    for library, order in (("Hugging Face transformers", "transformers"), ("llama.cpp", "llama.cpp")):
        course = [p.name for p in SamplingConfig(order=order, **every).truncation]
        steps = [step for step in eco.SAMPLER_CHAIN[library] if step in course]
        assert [name for name in course if name in steps] == steps, library
    assert set(eco.SAMPLERS) == {"typical_p", "epsilon_cutoff", "eta_cutoff", "top_n_sigma", "xtc", "dry", "mirostat"}
    assert all("source" in entry and "this course" in entry for entry in eco.SAMPLERS.values())


@pytest.mark.reference
def test_hugging_face_typical_epsilon_eta_are_off_by_default_and_refuse_the_ends():
    # ecosystem.SAMPLERS: default None (off), the warpers refuse values outside (0, 1), and the
    # suggested ranges are quoted from GenerationConfig's documentation.
    from transformers import GenerationConfig
    from transformers.generation import logits_process as lp

    config = GenerationConfig()
    assert config.typical_p is None and config.epsilon_cutoff is None and config.eta_cutoff is None
    for warper in (lp.TypicalLogitsWarper, lp.EpsilonLogitsWarper, lp.EtaLogitsWarper):
        for value in (0.0, 1.0):
            with pytest.raises(ValueError):
                warper(value)
    assert "3e-4 to 9e-4" in GenerationConfig.__doc__ and "3e-4 to 2e-3" in GenerationConfig.__doc__
    assert "3e-4 to 9e-4" in eco.SAMPLERS["epsilon_cutoff"]["Hugging Face transformers"]
    assert "3e-4 to 2e-3" in eco.SAMPLERS["eta_cutoff"]["Hugging Face transformers"]


def test_lesson_09_shows_every_speculative_record_without_its_sources():
    shown = eco.speculative_markdown()
    for tool, entry in eco.SPECULATIVE_DECODING.items():
        assert f"**{tool}**" in shown
        assert entry["source"] not in shown and entry["checked"] not in shown
    assert "(commit" not in shown
