"""Structured output: llguidance's token masks over the course's tokenizer, and generate() with a
JSON schema or a grammar -- checked on small grammars against the real vocabulary, then for
validity over many seeds and sampling settings with the bundled model (constrained: every
finished generation parses and validates; unconstrained: a measured invalid rate)."""

import json
import re

import jsonschema
import numpy as np
import pytest

from conftest import require_reference
from course_utils import sampling, structured
from course_utils.generation import generate, generate_batch
from course_utils.model import load_model

DIGITS = {"syntax": "regex", "definition": "[0-9]+"}
YES_NO = 'start: "yes" | "no"'
NOTHING = {"syntax": "regex", "definition": r"[^\s\S]"}  # a character class no character is in

PERSON, ALICE = structured.EXAMPLE_SCHEMA, structured.EXAMPLE_QUESTION


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def tokenizer(model):
    return model.tokenizer


def is_valid(text: str, schema) -> bool:
    """Does `text`, as a program would receive it, parse as JSON and validate against `schema`?"""
    try:
        jsonschema.validate(json.loads(text), schema)
    except (json.JSONDecodeError, jsonschema.ValidationError):
        return False
    return True


# ---- the mask over the real vocabulary -------------------------------------------------------


def test_llguidance_reads_the_course_tokenizer_once(tokenizer):
    first = structured.grammar_tokenizer(tokenizer)
    assert structured.grammar_tokenizer(tokenizer) is first
    assert first.vocab_size == tokenizer.vocab_size
    assert sorted(first.eos_tokens) == sorted(tokenizer.eos_ids)


def test_a_digits_regex_allows_exactly_the_all_digit_tokens(tokenizer):
    constraint = structured.TokenConstraint(tokenizer, grammar=DIGITS)
    # The mask computed independently: every ordinary token whose bytes are all digits.
    expected = [
        i for i in range(tokenizer.vocab_size)
        if i not in tokenizer.special_ids and re.fullmatch(rb"[0-9]+", tokenizer.token_bytes(i))
    ]
    assert constraint.allowed_ids().tolist() == expected
    assert not constraint.is_complete, "the empty text is not a number"
    constraint.advance(tokenizer.encode("7")[0])
    assert constraint.is_complete and not constraint.is_finished
    after = constraint.allowed_ids().tolist()
    assert after == sorted(expected + sorted(tokenizer.eos_ids)), "more digits, or the end"


def test_a_lark_choice_walks_to_its_end_and_then_allows_only_eos(tokenizer):
    constraint = structured.TokenConstraint(tokenizer, grammar=YES_NO)
    allowed = {tokenizer.decode([i]) for i in constraint.allowed_ids()}
    assert allowed <= {"y", "ye", "yes", "n", "no"} and {"yes", "no"} <= allowed
    constraint.advance(tokenizer.encode("yes")[0])
    assert constraint.is_complete and constraint.is_finished
    assert set(constraint.allowed_ids().tolist()) == set(tokenizer.eos_ids)
    assert constraint.token_ids == tokenizer.encode("yes")


def test_openai_grammar_objects_and_lark_text_agree(tokenizer):
    as_text = structured.TokenConstraint(tokenizer, grammar="start: /[0-9]+/")
    as_regex = structured.TokenConstraint(tokenizer, grammar=DIGITS)
    as_lark = structured.TokenConstraint(tokenizer, grammar={"type": "grammar", "syntax": "lark",
                                                             "definition": "start: /[0-9]+/"})
    np.testing.assert_array_equal(as_text.allowed(), as_regex.allowed())
    np.testing.assert_array_equal(as_text.allowed(), as_lark.allowed())


def test_a_schema_as_dict_or_as_json_text_is_the_same_constraint(tokenizer):
    as_dict = structured.TokenConstraint(tokenizer, json_schema=PERSON)
    as_text = structured.TokenConstraint(tokenizer, json_schema=json.dumps(PERSON))
    np.testing.assert_array_equal(as_dict.allowed(), as_text.allowed())
    assert {tokenizer.decode([i]) for i in as_dict.allowed_ids()} == {"{", '{"'}, "no whitespace before the object"


def test_mask_logits_sets_exactly_the_forbidden_tokens_to_minus_infinity(tokenizer):
    constraint = structured.TokenConstraint(tokenizer, grammar=DIGITS)
    logits = np.random.default_rng(0).normal(size=tokenizer.vocab_size).astype(np.float32)
    masked = constraint.mask_logits(logits)
    allowed = constraint.allowed()
    np.testing.assert_array_equal(masked[allowed], logits[allowed])
    assert np.isneginf(masked[~allowed]).all()
    with pytest.raises(ValueError, match="one score per token"):
        constraint.mask_logits(logits[:10])


def test_a_token_the_grammar_forbids_cannot_be_advanced(tokenizer):
    constraint = structured.TokenConstraint(tokenizer, grammar=DIGITS)
    with pytest.raises(ValueError, match=r"token \d+ is not allowed by the grammar after ''"):
        constraint.advance(tokenizer.encode("x")[0])
    with pytest.raises(ValueError, match="not allowed"):
        constraint.advance(min(tokenizer.eos_ids))  # the empty text is not complete
    with pytest.raises(TypeError, match="token_id"):
        constraint.advance("7")


# ---- clear errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({}, ValueError, "exactly one of json_schema .* neither"),
        ({"json_schema": PERSON, "grammar": YES_NO}, ValueError, "exactly one of json_schema .* both"),
        ({"json_schema": "{'type': 'object'}"}, ValueError, "json_schema is not valid JSON text"),
        ({"json_schema": 42}, TypeError, "json_schema must be a JSON Schema"),
        ({"json_schema": {"type": "integer", "minimum": 5, "maximum": 3}}, ValueError,
         r"llguidance rejects this json_schema: .*minimum \(5\) is greater than maximum \(3\)"),
        ({"json_schema": {"type": "colour"}}, ValueError, "llguidance rejects this json_schema"),
        ({"grammar": "start: number"}, ValueError, "(?s)llguidance rejects this grammar: .*unknown name"),
        ({"grammar": "[0-9]+"}, ValueError, "(?s)rejects this grammar.*for a regular expression pass"),
        ({"grammar": {"syntax": "regex", "definition": "((("}}, ValueError, "(?s)rejects this grammar.*unclosed group"),
        ({"grammar": {"syntax": "gbnf", "definition": "root ::= [0-9]+"}}, ValueError, "grammar must be a Lark grammar"),
        ({"grammar": 42}, ValueError, "grammar must be a Lark grammar"),
    ],
)
def test_bad_constraints_get_clear_errors_naming_the_parameter(tokenizer, kwargs, error, message):
    with pytest.raises(error, match=message):
        structured.TokenConstraint(tokenizer, **kwargs)


def test_a_grammar_that_allows_nothing_is_a_clear_error(model, tokenizer):
    constraint = structured.TokenConstraint(tokenizer, grammar=NOTHING)
    with pytest.raises(ValueError, match="grammar allows no token after '' .*nothing to draw from"):
        constraint.allowed()
    with pytest.raises(ValueError, match="grammar allows no token"):
        generate(model, "Pick a number:", grammar=NOTHING, max_new_tokens=3)


def test_generate_checks_the_constraint_before_running_the_model(model):
    with pytest.raises(ValueError, match="exactly one of json_schema"):
        generate(model, "Hi", json_schema=PERSON, grammar=YES_NO)
    with pytest.raises(ValueError, match="llguidance rejects this grammar"):
        generate_batch(model, ["Hi", "Yo"], grammar="start: ((")


# ---- generate() with a constraint -----------------------------------------------------------


def test_without_a_constraint_nothing_is_reported(model):
    g = generate(model, "The capital of France is", max_new_tokens=2, temperature=0)
    assert g.complete is None and all(s.allowed_prob is None for s in g.steps)
    assert "json_schema" not in g.settings and "grammar" not in g.settings


def test_each_step_draws_from_the_masked_logits_and_records_the_model_s_own_logprob(model, tokenizer):
    settings = dict(temperature=1.3, top_p=0.9, min_p=0.02)
    prompt = "My lucky number is"
    g = generate(model, prompt, grammar=DIGITS, max_new_tokens=4, seed=5, **settings)
    assert g.text.isdigit() and g.settings["grammar"] == DIGITS
    # Replay: the mask on the raw logits, then the chain, gives each step's recorded probability.
    replay = structured.TokenConstraint(tokenizer, grammar=DIGITS)
    ids = model.encode(prompt)
    for step in g.steps:
        logits = model.next_token_logits(ids)
        allowed = replay.allowed()
        final = sampling.next_token_distribution(replay.mask_logits(logits), **settings)
        # rel=1e-4: the replay computes the logits along another path (last-digit differences).
        assert step.prob == pytest.approx(final[step.token_id], rel=1e-4)
        assert not final[~allowed].any(), "no forbidden token keeps probability"
        assert step.logprob == pytest.approx(sampling.log_softmax(logits)[step.token_id], rel=1e-4)
        assert step.allowed_prob == pytest.approx(sampling.softmax(logits)[allowed].sum(), rel=1e-4)
        replay.advance(step.token_id)
        ids.append(step.token_id)


def test_a_text_cut_short_by_max_new_tokens_is_reported_incomplete(model):
    long_number = {"syntax": "regex", "definition": "[0-9]{12}"}
    g = generate(model, "A long number:", grammar=long_number, max_new_tokens=3, temperature=0)
    assert g.finish_reason == "max_new_tokens" and g.complete is False
    assert len(g.text) == 3 and g.text.isdigit()
    g = generate(model, "Answer yes or no: is the sky blue?", grammar=YES_NO, max_new_tokens=5, temperature=0)
    assert g.complete is True and g.finish_reason == "eos" and g.text in {"yes", "no"}


def test_greedy_alice_is_valid_json_with_the_schema(model):
    """Issue 15's check: a greedy, schema-constrained reply to the Alice request is valid JSON."""
    g = generate(model, ALICE, chat=True, temperature=0, max_new_tokens=60, json_schema=PERSON)
    assert g.finish_reason == "eos" and g.complete is True
    assert is_valid(g.text, PERSON), g.text
    assert json.loads(g.text)["name"] == "Alice"
    free = generate(model, ALICE, chat=True, temperature=0, max_new_tokens=60)
    print(f"\nconstrained: {g.text!r}\nunconstrained (valid: {is_valid(free.text, PERSON)}): {free.text!r}")


# The validity test: a dozen generations over seeds and sampling settings up to T = 1.5.
SETTINGS = [
    dict(temperature=1.0),
    dict(temperature=1.5, top_p=0.9),
    dict(temperature=1.5, min_p=0.05),
]
SEEDS_PER_SETTING = 4


def validity(model, schema, settings_list, seeds_per_setting, max_new_tokens=60, constrained=True, prompt=ALICE):
    """How many generations (one batch per setting) are complete and valid, of how many."""
    valid = total = 0
    for settings in settings_list:
        gens = generate_batch(model, [prompt] * seeds_per_setting, chat=True, max_new_tokens=max_new_tokens,
                              seed=100, json_schema=schema if constrained else None, **settings)
        for g in gens:
            total += 1
            ok = is_valid(g.text, schema)
            valid += ok
            if constrained:
                assert g.complete == ok, f"complete={g.complete} but valid={ok} for {g.text!r} ({settings})"
    return valid, total


def test_every_constrained_generation_validates(model):
    valid, total = validity(model, PERSON, SETTINGS, SEEDS_PER_SETTING)
    print(f"\nconstrained: {valid}/{total} valid")
    assert total == len(SETTINGS) * SEEDS_PER_SETTING
    assert valid == total, "a constrained generation must always parse and validate"


@pytest.mark.slow
def test_the_same_settings_without_the_constraint_give_a_measured_invalid_rate(model):
    """What the mask buys: the same dozen requests, unconstrained (they run the full 60 tokens)."""
    valid, total = validity(model, PERSON, SETTINGS, SEEDS_PER_SETTING, constrained=False)
    print(f"\nunconstrained: {total - valid}/{total} invalid")
    assert valid < total, "without the mask the same settings produce invalid replies"


def test_a_constrained_batch_row_equals_the_single_generation(model):
    row = generate_batch(model, [ALICE, ALICE], chat=True, json_schema=PERSON, temperature=1.5,
                         max_new_tokens=12, seed=7)[1]
    alone = generate(model, ALICE, chat=True, json_schema=PERSON, temperature=1.5, max_new_tokens=12, seed=8)
    assert row.token_ids == alone.token_ids and row.complete == alone.complete


# A second shape: an array of enums and a number, so the sweep is not one schema's luck.
ORDER = {
    "type": "object",
    "properties": {
        "items": {"type": "array", "items": {"enum": ["tea", "coffee", "cake"]}, "minItems": 1, "maxItems": 3},
        "total": {"type": "number", "minimum": 0, "maximum": 100},
    },
    "required": ["items", "total"],
    "additionalProperties": False,
}


ORDER_PROMPT = "Give me a JSON object for an order at a cafe: the items and the total price"


@pytest.mark.slow
def test_validity_sweep_over_more_settings_and_a_second_schema(model):
    settings_list = [
        dict(temperature=0.7, top_k=40),
        dict(temperature=1.5, top_p=0.95, order="llama.cpp"),
        dict(temperature=1.2, top_k=50, top_p=0.9, min_p=0.02),
    ]
    for schema, prompt in ((PERSON, ALICE), (ORDER, ORDER_PROMPT)):
        valid, total = validity(model, schema, settings_list, seeds_per_setting=3, max_new_tokens=80, prompt=prompt)
        assert valid == total == 9, f"{valid}/{total} constrained generations valid for {schema}"


# ---- where the mask goes, against Hugging Face --------------------------------------------------


@pytest.mark.reference
def test_mask_then_chain_equals_transformers_prefix_constraint_before_its_warpers(tokenizer):
    """Hugging Face's generate() runs `prefix_allowed_tokens_fn` (PrefixConstrainedLogitsProcessor)
    among the logits processors, before the temperature/top-k/top-p/min-p warpers: the same order
    as `generate(json_schema=...)`, so the same distributions."""
    require_reference()
    import torch
    from transformers.generation import logits_process as lp

    for text in ("", '{"name": "Al', '{"name": "Alice", "age": 3'):
        replay = structured.TokenConstraint(tokenizer, json_schema=PERSON)
        for token in tokenizer.encode(text):
            replay.advance(token)
        allowed = replay.allowed_ids().tolist()
        rng = np.random.default_rng(len(text))
        logits = rng.normal(0, 3, size=tokenizer.vocab_size).astype(np.float32)
        logits[allowed] += rng.normal(0, 1, size=len(allowed)).astype(np.float32)
        for t, k, p, m in [(1.0, 0, 1.0, 0.0), (0.7, 5, 1.0, 0.0), (1.5, 0, 0.9, 0.0), (1.3, 0, 1.0, 0.1)]:
            processors = [lp.PrefixConstrainedLogitsProcessor(lambda batch_id, ids: allowed, num_beams=1)]
            processors += [lp.TemperatureLogitsWarper(t)] if t != 1.0 else []
            processors += [lp.TopKLogitsWarper(k)] if k else []
            processors += [lp.TopPLogitsWarper(p)] if p < 1.0 else []
            processors += [lp.MinPLogitsWarper(m)] if m else []
            scores = torch.from_numpy(logits[None, :].copy())
            for processor in processors:
                scores = processor(torch.zeros((1, 1), dtype=torch.long), scores)
            theirs = torch.softmax(scores.double(), dim=-1)[0].numpy()
            ours = sampling.next_token_distribution(replay.mask_logits(logits), temperature=t, top_k=k,
                                                    top_p=p, min_p=m)
            np.testing.assert_allclose(ours, theirs, atol=1e-6, err_msg=f"{text!r} T={t} k={k} p={p} min_p={m}")


@pytest.mark.reference
def test_transformers_generate_masks_before_it_truncates():
    """ecosystem.STRUCTURED_OUTPUT's claim, on the installed transformers: with top_k=2 and a
    prefix_allowed_tokens_fn that forbids the two most likely tokens, generate() still keeps two
    tokens, both allowed -- the mask ran first. Truncating first would have kept none."""
    require_reference()
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=16, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=32)
    model = LlamaForCausalLM(config).eval()
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        ranked = model(ids).logits[0, -1].argsort(descending=True).tolist()
    allowed = ranked[2:5]
    out = model.generate(ids, do_sample=True, top_k=2, temperature=0.7, max_new_tokens=1, pad_token_id=0,
                         prefix_allowed_tokens_fn=lambda batch_id, sent: allowed,
                         output_scores=True, return_dict_in_generate=True)
    kept = torch.isfinite(out.scores[0][0]).nonzero().flatten().tolist()
    assert sorted(kept) == sorted(ranked[2:4])


# ---- the in-the-wild data ------------------------------------------------------------------------


def test_structured_output_rows_cover_every_library_and_the_course():
    from course_utils import ecosystem as eco

    assert set(eco.STRUCTURED_OUTPUT) == {*eco.LIBRARIES, "this course"}
    for key, spec in eco.STRUCTURED_OUTPUT.items():
        assert spec.library == key and all((spec.request, spec.engine, spec.where, spec.cut_short, spec.source))
    assert "llguidance" in eco.STRUCTURED_OUTPUT["vLLM"].engine
    assert "--json-schema" in eco.STRUCTURED_OUTPUT["llama.cpp"].request
    table = eco.structured_output_table_markdown()
    lines = table.splitlines()
    assert len(lines) == 2 + len(eco.STRUCTURED_OUTPUT)
    assert all(line.replace("\\|", "").count("|") == 6 for line in lines), "a cell's '|' must not split it"


def test_sample_then_check_is_llama_cpps_distribution_and_differs_from_masking_first_when_truncating():
    """llama.cpp's default: draw through the whole chain unmasked, keep the token if the grammar allows
    it, else mask the raw logits and draw again. Simulated draw by draw, it matches the formula."""
    from course_utils.sampling import next_token_distribution, sample_next_token

    logits = np.log([0.35, 0.25, 0.15, 0.12, 0.08, 0.05])
    allowed = np.array([False, True, True, False, True, True])
    settings = dict(top_p=0.8, top_k=4, temperature=0.9)
    rng = np.random.default_rng(0)
    masked_logits = np.where(allowed, logits, -np.inf)
    n = 40_000
    counts = np.zeros(len(logits))
    for _ in range(n):
        token = sample_next_token(logits, rng=rng, **settings)
        if not allowed[token]:
            token = sample_next_token(masked_logits, rng=rng, **settings)
        counts[token] += 1
    expected = structured.sample_then_check(logits, allowed, **settings)
    assert np.all(np.abs(counts / n - expected) < 4 * np.sqrt(expected * (1 - expected) / n) + 1e-12)
    assert not np.allclose(expected, next_token_distribution(masked_logits, **settings), atol=0.01)
    # The lesson's counterexample, exactly; without truncation the two agree.
    toy, mask = np.log([0.5, 0.3, 0.2]), np.array([False, True, True])
    assert structured.sample_then_check(toy, mask, top_p=0.8) == pytest.approx([0.0, 0.75, 0.25])
    assert structured.sample_then_check(toy, mask) == pytest.approx([0.0, 0.6, 0.4])
