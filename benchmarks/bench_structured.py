"""Structured output: what the grammar mask costs, and what it buys.

    .venv/bin/python benchmarks/bench_structured.py                 # costs
    .venv/bin/python benchmarks/bench_structured.py --validity 8    # validity, 8 seeds per setting

Costs, at the course's vocabulary (49,152 tokens):
- building llguidance's tokenizer (once per tokenizer; course_utils.structured caches it) and
  compiling a JSON schema into a constraint (once per generation);
- the mask per step: `TokenConstraint.allowed()` (llguidance's bitmask and its unpacking into a
  bool array) along a JSON reply, token by token; the target is at most 1 ms;
- one sampling step on the model's real logits, with the mask (a fresh state's mask, -inf on the
  forbidden logits, the draw) and without it (the draw alone);
- a generation with and without the schema: milliseconds per generated token, the same prompt and
  the same number of tokens (greedy), runs alternated so that load on the machine hits both.

Validity (--validity N): issue 15's request, "Give me a JSON object describing a person called
Alice who is 31", answered N times (seeds) at each sampling setting with the schema and without
it; a reply is valid if it parses as JSON and validates against the schema (jsonschema). The
constrained replies must all be valid (every one here ended at the end-of-sequence token); the
unconstrained invalid rate is what the mask prevents. A second, lenient count gives the
unconstrained replies a repair that client code often tries: parse only the text from the first
"{" to the last "}" (dropping code fences and chatter around the object).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jsonschema
import llguidance
import numpy as np

from course_utils import sampling, structured
from course_utils.generation import generate, generate_batch
from course_utils.model import load_model

PERSON, ALICE = structured.EXAMPLE_SCHEMA, structured.EXAMPLE_QUESTION
# A longer reply to walk the mask along: strings, numbers, an array, nested objects.
PROFILE = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "skills": {"type": "array", "items": {"type": "string"}},
        "address": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "string"}}},
    },
}
PROFILE_REPLY = json.dumps(
    {"name": "Alice Martin", "age": 31, "skills": ["painting", "chess", "Python programming"],
     "address": {"city": "Lyon", "zip": "69001"}},
    indent=2,
)
SETTINGS = [
    dict(temperature=0.7),
    dict(temperature=1.0),
    dict(temperature=1.0, top_p=0.9),
    dict(temperature=1.5),
    dict(temperature=1.5, top_p=0.9),
    dict(temperature=1.5, min_p=0.05),
]


def median_ms(times):
    return statistics.median(times) * 1e3


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def mask_costs(tokenizer):
    build, _ = timed(lambda: llguidance.LLTokenizer(tokenizer.to_json(), n_vocab=tokenizer.vocab_size,
                                                     eos_token=sorted(tokenizer.eos_ids)))
    structured.grammar_tokenizer(tokenizer)  # the cached one, for what follows
    compiles = [timed(lambda: structured.TokenConstraint(tokenizer, json_schema=PROFILE))[0] for _ in range(20)]
    steps, firsts, first_pass_max = [], [], 0.0
    for attempt in range(5):
        constraint = structured.TokenConstraint(tokenizer, json_schema=PROFILE)
        for position, token in enumerate(tokenizer.encode(PROFILE_REPLY)):
            elapsed, _ = timed(constraint.allowed)
            (firsts if position == 0 else steps).append(elapsed)
            if attempt == 0:
                first_pass_max = max(first_pass_max, elapsed)
            constraint.advance(token)
    n_tokens = len(tokenizer.encode(PROFILE_REPLY))
    print(f"llguidance tokenizer, built once per tokenizer: {build * 1e3:.0f} ms")
    print(f"compiling the JSON schema into a constraint:    {median_ms(compiles):.2f} ms (median of 20)")
    print(f"mask per step along a {n_tokens}-token JSON reply (5 passes): median {median_ms(steps):.3f} ms, "
          f"95th percentile {sorted(steps)[int(0.95 * len(steps))] * 1e3:.3f} ms, max {max(steps) * 1e3:.3f} ms; "
          f"{sum(s > 1e-3 for s in steps)} of {len(steps)} steps over the 1 ms target")
    print(f"  the first mask of a new constraint: median {median_ms(firsts):.2f} ms, max {max(firsts) * 1e3:.2f} ms; "
          f"the slowest step of the first pass {first_pass_max * 1e3:.2f} ms (llguidance builds lexer states lazily)")


def sampling_step_costs(model):
    """One step's sampling work on real logits, with and without the grammar mask."""
    logits = model.next_token_logits(model.encode(model.chat_prompt(ALICE)))
    rng = np.random.default_rng(0)
    for label, settings in (("greedy", dict(temperature=0)), ("T=1, top_p=0.9", dict(temperature=1.0, top_p=0.9))):
        free, masked = [], []
        for _ in range(200):
            constraint = structured.TokenConstraint(model.tokenizer, json_schema=PERSON)
            free.append(timed(lambda: sampling.draw_next_token(logits, rng=rng, **settings))[0])
            masked.append(timed(lambda: sampling.draw_next_token(constraint.mask_logits(logits), rng=rng,
                                                                 **settings))[0])
        print(f"one sampling step ({label}) on the model's logits: {median_ms(free):.2f} ms without the mask, "
              f"{median_ms(masked):.2f} ms with it (a fresh constraint's first mask included; median of 200)")


def generation_costs(model):
    prompt, n = ALICE, 18  # the greedy constrained reply is 18 tokens with the end of sequence
    generate(model, prompt, chat=True, temperature=0, max_new_tokens=2)  # warm-up
    per_token = {None: [], "schema": []}
    for _ in range(5):
        for key, schema in ((None, None), ("schema", PERSON)):
            elapsed, g = timed(lambda: generate(model, prompt, chat=True, temperature=0, max_new_tokens=n,
                                                json_schema=schema))
            per_token[key].append(elapsed / len(g.token_ids))
    print(f"greedy generation, {n} tokens, median of 5 alternated runs: {median_ms(per_token[None]):.1f} ms per "
          f"token without the schema, {median_ms(per_token['schema']):.1f} ms with it")


def is_valid(text, schema):
    try:
        jsonschema.validate(json.loads(text), schema)
    except (json.JSONDecodeError, jsonschema.ValidationError):
        return False
    return True


def braces_only(text):
    """The text from the first "{" to the last "}": the usual repair of a chatty JSON reply."""
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else text


def validity_rates(model, seeds, settings_list=SETTINGS, schema=PERSON, prompt=ALICE, max_new_tokens=60):
    """Per setting: (settings, valid constrained, complete constrained, invalid unconstrained,
    invalid unconstrained even after the braces-only repair, replies each)."""
    rows = []
    for settings in settings_list:
        kwargs = dict(chat=True, max_new_tokens=max_new_tokens, seed=0, **settings)
        constrained = generate_batch(model, [prompt] * seeds, json_schema=schema, **kwargs)
        free = generate_batch(model, [prompt] * seeds, **kwargs)
        rows.append((
            settings,
            sum(is_valid(g.text, schema) for g in constrained),
            sum(bool(g.complete) for g in constrained),
            sum(not is_valid(g.text, schema) for g in free),
            sum(not is_valid(braces_only(g.text), schema) for g in free),
            seeds,
        ))
    return rows


def print_validity(rows, max_new_tokens=60):
    print(f"\n{ALICE!r}, max_new_tokens={max_new_tokens}, chat template on, seeds 0..{rows[0][-1] - 1}")
    print("| settings | constrained: valid | unconstrained: invalid | unconstrained, braces-only repair: invalid |")
    print("|---|---|---|---|")
    for settings, valid, complete, invalid, still_invalid, n in rows:
        label = ", ".join(f"{k}={v}" for k, v in settings.items())
        print(f"| {label} | {valid}/{n} | {invalid}/{n} | {still_invalid}/{n} |")
    total = sum(r[-1] for r in rows)
    sums = [sum(r[i] for r in rows) for i in (1, 3, 4)]
    print(f"| all | {sums[0]}/{total} | {sums[1]}/{total} | {sums[2]}/{total} |")
    cut = sum(r[-1] - r[2] for r in rows)
    print(f"(constrained replies cut short by max_new_tokens: {cut})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--validity", type=int, metavar="SEEDS", help="measure validity with SEEDS seeds per setting")
    args = parser.parse_args()
    model = load_model()
    if args.validity:
        print_validity(validity_rates(model, args.validity))
        return
    mask_costs(model.tokenizer)
    sampling_step_costs(model)
    generation_costs(model)


if __name__ == "__main__":
    main()
