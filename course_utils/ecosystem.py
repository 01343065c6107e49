"""The sampling dials as five popular stacks name them: names, allowed values, defaults.

Data, not prose: lesson 04's "in the wild" table is generated from `PARAMETERS`, so a
changed default is fixed in one place and every table follows. This module sits at the
level of `sampling` and imports nothing from the course.

Where each value was checked (2026-11, re-checked 2026-12; cite these when you update a row):

- OpenAI Chat Completions: the API reference and the openai-python SDK,
  ``src/openai/types/chat/completion_create_params.py`` (commit 0444895): "What sampling
  temperature to use, between 0 and 2"; ``top_p`` is "nucleus sampling"; "We generally
  recommend altering this or `top_p` but not both". Both default to 1 in the API reference.
  ``seed`` is Beta and "best effort": "Determinism is not guaranteed, and you should refer to
  the `system_fingerprint` response parameter to monitor changes in the backend". The API has
  no ``top_k`` and no ``min_p``. Reasoning models (o-series, and GPT-5 models while they
  reason) answer any other ``temperature`` with HTTP 400 "Unsupported value: 'temperature'
  does not support 0 with this model. Only the default (1) value is supported." and refuse
  ``top_p`` ("Unsupported parameter"); the SDK's ``reasoning_effort`` docs say only
  ``gpt-5.1`` and later accept ``reasoning_effort="none"``, the one setting in which they take
  ``temperature``, ``top_p`` and ``logprobs``. (The error text is the API's own, as quoted in
  openai/openai-python#2104 and many client bug reports.)
- Hugging Face transformers 5.24.0, the version installed by this course's ``reference``
  extra: ``GenerationConfig._get_default_generation_params()`` returns ``do_sample=False``,
  ``temperature=1.0``, ``top_k=50``, ``top_p=1.0``; ``min_p`` is ``None`` (off). These are
  fallbacks: ``GenerationMixin._prepare_generation_config`` ranks "user-defined kwargs or
  `generation_config` > `self.generation_config` > global default values", and
  ``self.generation_config`` is the checkpoint's ``generation_config.json``.
  ``TemperatureLogitsWarper(0.0)`` raises "... set `do_sample=False`"; with ``do_sample=False``
  ``GenerationConfig.validate`` only warns that ``temperature`` "may be ignored", and greedy
  decoding runs. ``_get_logits_processor`` adds ``TopKLogitsWarper`` only when
  ``top_k != 0``. ``_sample`` copies the last logits to float32
  (``.to(copy=True, dtype=torch.float32)``) before the processors; ``output_scores`` are the
  *processed* scores, which ``compute_transition_scores(normalize_logits=True)``
  log-softmaxes. ``tests/test_ecosystem.py`` re-checks all of these against the installed
  library.
- llama.cpp: ``common/common.h``, ``struct common_params_sampling`` (ggml-org/llama.cpp,
  commit 001d906): ``top_k = 40`` ("<= 0 to use vocab size"), ``top_p = 0.95f``
  ("1.0 = disabled"), ``min_p = 0.05f`` ("0.0 = disabled"), ``temp = 0.80f`` ("<= 0.0 to
  sample greedily"); the default ``samplers`` list is penalties, DRY, top-n-sigma, top-k,
  typical-p, top-p, min-p, XTC, temperature, and every sampler the course leaves out is off by
  default (``penalty_repeat = 1.00f``, ``dry_multiplier = 0.0f``, ``top_n_sigma = -1.00f``,
  ``typ_p = 1.00f``, ``xtc_probability = 0.00f``). ``common/sampling.cpp`` builds the
  temperature step as ``llama_sampler_init_temp_ext(temp, dynatemp_range,
  dynatemp_exponent)``; ``src/llama-sampling.cpp`` (``llama_sampler_temp_ext_apply``) takes
  ``min_temp = max(0, temp - delta)``, ``max_temp = temp + delta`` and normalises the entropy
  by ``log(cur_p->size)``, the candidates still left at that point of the chain. The server
  (``tools/server/server-common.cpp``, ``get_token_probabilities``) reports ``n_probs`` as a
  plain softmax of the raw logits unless the request sets ``post_sampling_probs``, which
  "Returns the probabilities of top `n_probs` tokens after applying sampling chain"
  (``tools/server/README.md``).
- vLLM: ``vllm/sampling_params.py``, ``class SamplingParams`` (vllm-project/vllm, commit
  00388f6): ``temperature = 1.0`` ("Zero means greedy sampling"; checked to lie in [0, 2]),
  ``top_p = 1.0`` (must be in (0, 1]), ``top_k = 0`` ("Set to 0 (or -1) to consider all
  tokens"), ``min_p = 0.0`` (in [0, 1], 0 disables); ``logprobs``: "When set to -1, return
  all `vocab_size` log probabilities". ``vllm/config/model.py`` (commit 0052a5b):
  ``logprobs_mode = "raw_logprobs"`` by default, one of raw_logprobs, processed_logprobs,
  raw_logits, processed_logits ("Processed means the values after applying all processors,
  including temperature and top_k/top_p"); ``generation_config = "auto"`` loads the model's
  generation config as the defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "KNOBS",
    "LIBRARIES",
    "CHAIN_ORDER",
    "GREEDY",
    "SOURCES",
    "DRAW",
    "SAMPLER_CHAIN",
    "SAMPLERS",
    "DYNAMIC_TEMPERATURE",
    "LOGPROBS",
    "HUGGING_FACE_GENERATE",
    "SERVER_DETERMINISM",
    "FLOAT_FORMATS",
    "ParameterSpec",
    "PARAMETERS",
    "spec",
    "defaults",
    "parameter_table_markdown",
    "greedy_table_markdown",
    "learner_text",
    "facts_markdown",
    "REFERENCE_DOC",
    "reference_markdown",
    "PENALTY_DIALS",
    "HISTORY_DIALS",
    "LibraryPenalties",
    "PENALTIES",
    "penalty_table_markdown",
    "penalty_chain_markdown",
    "BEAM_SEARCH",
    "StructuredOutputSpec",
    "STRUCTURED_OUTPUT",
    "structured_output_table_markdown",
    "STOPPING",
    "stopping_table_markdown",
    "ANTHROPIC_REFUSALS",
    "PENALTY_ADVICE",
    "SPECULATIVE_DECODING",
    "SAMPLER_LIBRARIES",
    "samplers_table_markdown",
    "speculative_markdown",
    "MIN_P_DEBATE",
]

KNOBS = ("temperature", "top_k", "top_p", "min_p")
"""The course's names for the four dials (Hugging Face's names)."""

LIBRARIES = ("OpenAI API", "Anthropic API", "Hugging Face transformers", "llama.cpp", "vLLM")


@dataclass(frozen=True)
class ParameterSpec:
    """One dial in one library.

    ``supported`` is False when the library has no such parameter; then ``default`` is
    None and ``name`` is empty. ``default`` is None also when the dial exists but is unset
    (off) by default, as Hugging Face's ``min_p``. ``off`` is the value that disables it.
    """

    library: str
    knob: str
    supported: bool
    name: str = ""
    default: float | int | None = None
    allowed: str = ""
    off: str = ""
    note: str = ""


PARAMETERS: tuple[ParameterSpec, ...] = (
    # OpenAI Chat Completions
    ParameterSpec("OpenAI API", "temperature", True, "temperature", 1.0, "0 to 2", "1",
                  "0 is accepted and means (near-)greedy; identical outputs are not guaranteed. "
                  "Reasoning models (o-series, GPT-5 while reasoning) accept only the default 1"),
    ParameterSpec("OpenAI API", "top_k", False, note="not offered"),
    ParameterSpec("OpenAI API", "top_p", True, "top_p", 1.0, "0 to 1", "1",
                  "the docs advise changing temperature or top_p, not both; reasoning models refuse top_p"),
    ParameterSpec("OpenAI API", "min_p", False, note="not offered"),
    # Anthropic Messages API (checked 2026-12 in anthropic-sdk-python's message_create_params.py)
    ParameterSpec("Anthropic API", "temperature", True, "temperature", 1.0, "0 to 1", "1.0",
                  "'even with temperature of 0.0, the results will not be fully deterministic'. Some newer "
                  "models refuse temperature and top_p together, and some refuse any temperature but the default "
                  "(the API's own error texts, quoted in ANTHROPIC_REFUSALS)"),
    ParameterSpec("Anthropic API", "top_k", True, "top_k", None, "integer", "unset",
                  "'Recommended for advanced use cases only'"),
    ParameterSpec("Anthropic API", "top_p", True, "top_p", None, "0 to 1", "unset",
                  "'Recommended for advanced use cases only'"),
    ParameterSpec("Anthropic API", "min_p", False, note="not offered"),
    # Hugging Face transformers, generate()
    ParameterSpec("Hugging Face transformers", "temperature", True, "temperature", 1.0,
                  "greater than 0 (0 raises an error when sampling)", "1.0",
                  "used only with do_sample=True, and do_sample defaults to False (greedy), where "
                  "temperature is ignored with a warning; a model's generation_config.json can change both"),
    ParameterSpec("Hugging Face transformers", "top_k", True, "top_k", 50, "integer >= 0", "0",
                  "on by default: sampling keeps only the 50 most likely tokens unless you set top_k=0, "
                  "generate()'s own switch for turning it off"),
    ParameterSpec("Hugging Face transformers", "top_p", True, "top_p", 1.0, "0 to 1", "1.0", ""),
    ParameterSpec("Hugging Face transformers", "min_p", True, "min_p", None, "0 to 1", "None or 0",
                  "applied after temperature"),
    # llama.cpp (llama-cli flags; the server's JSON uses the long names)
    ParameterSpec("llama.cpp", "temperature", True, "--temp / temperature", 0.8, "any real",
                  "1.0", "<= 0 means greedy; applied LAST in the default chain (penalties, DRY, "
                  "top-n-sigma, top-k, typical-p, top-p, min-p, XTC, temperature; the samplers this "
                  "course leaves out are off by default)"),
    ParameterSpec("llama.cpp", "top_k", True, "--top-k / top_k", 40, "integer", "<= 0", ""),
    ParameterSpec("llama.cpp", "top_p", True, "--top-p / top_p", 0.95, "0 to 1", "1.0", ""),
    ParameterSpec("llama.cpp", "min_p", True, "--min-p / min_p", 0.05, "0 to 1", "0.0",
                  "computed before temperature"),
    # vLLM SamplingParams (its OpenAI-compatible server takes the same names)
    ParameterSpec("vLLM", "temperature", True, "temperature", 1.0, "0 to 2", "1.0",
                  "0 means greedy and then top_p, top_k and min_p are ignored"),
    ParameterSpec("vLLM", "top_k", True, "top_k", 0, "0, -1 or integer >= 1", "0 or -1", ""),
    ParameterSpec("vLLM", "top_p", True, "top_p", 1.0, "(0, 1]", "1.0", ""),
    ParameterSpec("vLLM", "min_p", True, "min_p", 0.0, "0 to 1", "0.0", ""),
)

CHAIN_ORDER: dict[str, tuple[str, ...]] = {
    "Hugging Face transformers": ("temperature", "top_k", "top_p", "min_p"),
    "llama.cpp": ("top_k", "top_p", "min_p", "temperature"),
}
"""The order each library applies the dials in (their defaults; both can be reconfigured).

These are the two orders `course_utils.sampling` implements, as ``order="transformers"``
and ``order="llama.cpp"``.
"""

SOURCES: dict[str, str] = {
    "OpenAI API": "API reference; openai-python src/openai/types/chat/completion_create_params.py (commit 0444895)",
    "Anthropic API": "anthropic-sdk-python src/anthropic/types/message_create_params.py (commit 00dcf92), the "
    "Messages API's parameters: temperature 'Defaults to 1.0. Ranges from 0.0 to 1.0', top_k, top_p, "
    "stop_sequences; no seed, logprobs, logit_bias, n or penalties",
    "Hugging Face transformers": "transformers 5.24.0: GenerationConfig defaults, _prepare_generation_config and "
    "TemperatureLogitsWarper (re-checked by tests/test_ecosystem.py against the installed library)",
    "llama.cpp": "ggml-org/llama.cpp common/common.h, struct common_params_sampling (commit 001d906); "
    "src/llama-sampling.cpp; tools/server/README.md",
    "vLLM": "vllm-project/vllm vllm/sampling_params.py, class SamplingParams (commit 00388f6); "
    "vllm/config/model.py (commit 0052a5b)",
}
"""Where each library's row was checked; defaults change between releases, so re-check here first."""

GREEDY: dict[str, str] = {
    "OpenAI API": "temperature=0 (not on reasoning models, which accept only temperature=1)",
    "Anthropic API": "temperature=0 comes closest, but 'the results will not be fully deterministic'; "
    "some newer models accept no temperature but the default",
    "Hugging Face transformers": "do_sample=False (the default), where temperature=0 is ignored with a warning; "
    "temperature=0 with do_sample=True raises ValueError",
    "llama.cpp": "--temp 0 (any temp <= 0)",
    "vLLM": "temperature=0",
}
"""How to ask each library for greedy decoding (always take the most likely token)."""

DRAW: dict[str, str] = {
    "Hugging Face transformers": "torch.multinomial(probs, num_samples=1) in GenerationMixin._sample "
    "(transformers 5.24.0 generation/utils.py; re-checked by tests/test_ecosystem.py)",
    "vLLM": "an exponential race: probs.div_(q).argmax() with q.exponential_(), in _multinomial "
    "(vllm-project/vllm vllm/model_executor/layers/sampler.py)",
    "this course": "the exponential race, like vLLM (sampling.draw_next_token): a draw changes between "
    "machines only when its two best scores are closer than the machines' logits differ",
}
"""How each library turns the final distribution into one token. The same distribution, drawn
differently: the same seed gives different tokens in different libraries."""


SAMPLER_CHAIN: dict[str, tuple[str, ...]] = {
    "Hugging Face transformers": ("temperature", "top_h", "top_k", "top_p", "min_p", "typical_p",
                                  "epsilon_cutoff", "eta_cutoff"),
    "llama.cpp": ("penalties", "dry", "top_n_sigma", "top_k", "typical_p", "top_p", "min_p", "xtc",
                  "temperature"),
}
"""Every sampling step in each library's default order, not only the course's four dials.

transformers: the warpers ``GenerationMixin._get_logits_processor`` appends when
``do_sample=True`` (5.24.0; its penalties and logit processors come before them, and each
warper is added only when its setting is on; re-checked by tests/test_ecosystem.py).
llama.cpp: ``common_params_sampling::samplers`` in common/common.h (commit 001d906); the
penalties, DRY, top-n-sigma, typical-p and XTC steps are off by default (``penalty_repeat =
1.00f``, ``dry_multiplier = 0.0f``, ``top_n_sigma = -1.00f``, ``typ_p = 1.00f``,
``xtc_probability = 0.00f``), which leaves the order ``CHAIN_ORDER`` lists.
"""

_LLAMA_SAMPLING = "ggml-org/llama.cpp src/llama-sampling.cpp (commit 0344068)"
_LLAMA_DEFAULTS = "common/common.h, struct common_params_sampling (commit 001d906)"
_LLAMA_SERVER = ("llama-server takes it per request (tools/server/server-task.cpp, params_from_json_cmpl, "
                 "commit 00efb3e)")
_OLLAMA = "ollama/ollama api/types.go, struct Options and DefaultOptions (commit b8761ab)"
_HF = "transformers 5.24.0 generation/logits_process.py and configuration_utils.py (re-checked by tests/test_ecosystem.py)"

SAMPLERS: dict[str, dict[str, str]] = {
    "typical_p": {
        "Hugging Face transformers": "typical_p, TypicalLogitsWarper; default None (off), the warper refuses values "
        "outside (0, 1); generate() adds it only when typical_p < 1.0, after min_p",
        "llama.cpp": "typ_p (common_params_sampling::typ_p = 1.00f, off); in the default chain "
        "between top-k and top-p; keeps tokens until the mass exceeds p (strictly), where transformers stops at "
        "the first token whose mass reaches it and also keeps every token as close to the entropy as the last "
        "one kept (the two differ only at such exact ties)",
        "llama-server": _LLAMA_SERVER + ' as "typical_p"',
        "Ollama": "typical_p, default 1.0 (" + _OLLAMA + ")",
        "this course": "typical_p, (0, 1], 1.0 off: transformers' semantics (min_tokens_to_keep included)",
        "source": f"{_HF}; {_LLAMA_SAMPLING}; {_LLAMA_DEFAULTS}",
    },
    "epsilon_cutoff": {
        "Hugging Face transformers": "epsilon_cutoff, EpsilonLogitsWarper; default None (off), the warper refuses "
        "values outside (0, 1); 'suggested values range from 3e-4 to 9e-4' (configuration_utils.py)",
        "llama.cpp": "not offered", "llama-server": "not offered", "Ollama": "not offered (" + _OLLAMA + ")",
        "this course": "epsilon_cutoff, [0, 1), 0 off",
        "source": _HF,
    },
    "eta_cutoff": {
        "Hugging Face transformers": "eta_cutoff, EtaLogitsWarper: eta = min(epsilon, sqrt(epsilon) exp(-H)); "
        "default None (off); 'suggested values range from 3e-4 to 2e-3' (configuration_utils.py)",
        "llama.cpp": "not offered", "llama-server": "not offered", "Ollama": "not offered (" + _OLLAMA + ")",
        "this course": "eta_cutoff, [0, 1), 0 off",
        "source": _HF,
    },
    "top_n_sigma": {
        "Hugging Face transformers": "not offered",
        "llama.cpp": "top_n_sigma (common_params_sampling::top_n_sigma = -1.00f, off; the sampler "
        "does nothing for n <= 0); first of the truncation steps of the default chain",
        "llama-server": _LLAMA_SERVER + ' as "top_n_sigma"',
        "Ollama": "not offered (" + _OLLAMA + ")",
        "this course": "top_n_sigma, >= 0, -1 (llama.cpp's default) or 0 off; just before top-k in both orders",
        "source": f"{_LLAMA_SAMPLING}; {_LLAMA_DEFAULTS}",
    },
    "xtc": {
        "Hugging Face transformers": "not offered",
        "llama.cpp": "xtc_probability (0.00f, off) and xtc_threshold (0.10f; "
        "'> 0.5 disables XTC'); after min-p in the default chain; its coin comes from the sampler's own seeded rng",
        "llama-server": _LLAMA_SERVER + ' as "xtc_probability" and "xtc_threshold"',
        "Ollama": "not offered (" + _OLLAMA + ")",
        "this course": "xtc_probability in [0, 1] (0 off), xtc_threshold in [0, 1] (0.1); after the last cut in "
        "both orders; its coin comes from the generation's rng",
        "source": f"{_LLAMA_SAMPLING}; {_LLAMA_DEFAULTS}",
    },
    "dry": {
        "Hugging Face transformers": "not offered (its nearest dial is no_repeat_ngram_size)",
        "llama.cpp": "dry_multiplier (0.0f, off), dry_base (1.75f), dry_allowed_length (2), "
        "dry_penalty_last_n (64; -1 the context size, 0 off), dry_sequence_breakers (default \\n, :, \", *); "
        "second in the default chain, after the penalties; breakers are text, matched against every token's "
        "text (get_overlapping_token_sequences)",
        "llama-server": _LLAMA_SERVER + ' as "dry_multiplier", "dry_base", "dry_allowed_length", '
        '"dry_penalty_last_n" and "dry_sequence_breakers" (a non-empty array of strings); a dry_base below 1 '
        "falls back to the default",
        "Ollama": "not offered (" + _OLLAMA + ")",
        "this course": "the same five names and defaults; dry_base must be > 1; breakers are text in generate() "
        "(turned into ids as llama.cpp does) and id sequences on raw logits; after the repetition penalties",
        "source": f"{_LLAMA_SAMPLING}; {_LLAMA_DEFAULTS}",
    },
    "mirostat": {
        "Hugging Face transformers": "not offered",
        "llama.cpp": "mirostat (0 off, 1, 2), mirostat_eta (0.10f, the learning rate), mirostat_tau "
        "(5.00f, the target); mu starts at 2 tau; with mirostat on, common/sampling.cpp builds only temperature and mirostat "
        "(after logit_bias): the penalties, DRY and the truncation samplers are not run",
        "llama-server": _LLAMA_SERVER + ' as "mirostat", "mirostat_tau" and "mirostat_eta"',
        "Ollama": "mirostat (default 0), mirostat_tau (5.0), mirostat_eta (0.1) (" + _OLLAMA + ")",
        "this course": "mirostat in {0, 2}, mirostat_tau > 0, mirostat_eta >= 0; temperature then mirostat in both "
        "orders, the dials it skips refused; mu is recorded per step",
        "source": f"{_LLAMA_SAMPLING}; {_LLAMA_DEFAULTS}; ggml-org/llama.cpp common/sampling.cpp (commit 00efb3e)",
    },
}
"""The samplers beyond top-p (lesson 08): what each library calls them, their defaults and ranges, where
each chain runs them, and what Ollama and llama-server expose. The llama.cpp cases of these dials are
replayed in tests/test_samplers.py (tests/test-sampling.cpp, commit f0817df), the transformers ones in
tests/test_samplers_reference.py. The Ollama entries are what api/types.go at the commit named offers;
that snapshot may be older than Ollama's newest release."""

DYNAMIC_TEMPERATURE: dict[str, str] = {
    "llama.cpp": "temperature ranges over [max(0, temp - dynatemp_range), temp + dynatemp_range], centred on "
    "--temp; the entropy is normalised by the log of the number of candidates still left when temperature "
    "runs (after top-k, top-p and min-p), so T is picked from the truncated distribution "
    "(src/llama-sampling.cpp llama_sampler_temp_ext_apply; common/sampling.cpp; off by default: "
    "dynatemp_range = 0.00f in common/common.h, commit 001d906)",
    "this course (lesson 03, section 9)": "a variant: T ranges over [t_min, t_max] and the entropy of the whole "
    "untruncated distribution is normalised by log2 of the vocabulary size",
}
"""llama.cpp's dynamic temperature and the course's simpler variant of it: two differences."""

LOGPROBS: dict[str, str] = {
    "OpenAI API": "logprobs=true with top_logprobs from 0 to 20 per position; log-probabilities only, never "
    "logits; the API reference does not say whether they are taken before or after temperature "
    "(openai-python completion_create_params.py, commit 0444895)",
    "Anthropic API": "none: the Messages API has no logprobs parameter and returns neither log-probabilities "
    "nor logits (anthropic-sdk-python message_create_params.py, commit 00dcf92)",
    "Hugging Face transformers": "output_logits=True returns the raw logits (float32); output_scores=True the "
    "processed scores, after temperature and truncation, and compute_transition_scores(normalize_logits=True) "
    "log-softmaxes those processed scores, so they describe the sampling distribution, not the model's own "
    "(transformers 5.24.0 generation/utils.py; re-checked by tests/test_ecosystem.py)",
    "llama.cpp": "n_probs: the top tokens of a plain softmax of the raw logits, before any sampler, temperature "
    "and the grammar included; post_sampling_probs=true returns the probabilities after the whole sampling chain "
    "instead (tools/server/server-common.cpp get_token_probabilities; tools/server/README.md)",
    "vLLM": "logprobs_mode='raw_logprobs' by default: log-probabilities before any processor, temperature and "
    "top_k/top_p included, but after a structured output's grammar bitmask, which the model runner applies to "
    "the logits before the sampler computes them; 'processed_logprobs' after the processors; 'raw_logits' and "
    "'processed_logits' return logits. logprobs=-1 asks for the whole vocabulary, and is refused unless the "
    "server starts with --max-logprobs -1: the default cap is 20 (vllm/config/model.py max_logprobs, commit "
    "0052a5b; _validate_logprobs in the v1 engine's input processor; vllm/v1/worker/gpu_model_runner.py, "
    "'Apply structured output bitmasks if present' before self._sample)",
}
"""What each library's logprobs describe. With raw (pre-temperature) logprobs, asking at T = 0.1
and at T = 1.5 returns the same numbers twice: temperature changes the draw, not the report."""

HUGGING_FACE_GENERATE: dict[str, str] = {
    "temperature=0": "raises ValueError only with do_sample=True; with the default do_sample=False it is "
    "ignored with a warning and generate() decodes greedily",
    "top_k=0": "generate() itself adds no top-k step when top_k=0 (_get_logits_processor checks top_k != 0)",
    "defaults": "do_sample=False, top_k=50 and the other defaults are fallbacks: user kwargs > the model's "
    "generation_config.json > library defaults (_prepare_generation_config), and many instruct checkpoints "
    "ship sampling settings in that file",
    "compute_transition_scores": "normalize_logits=True log-softmaxes the processed scores (after temperature "
    "and truncation), not the model's own distribution",
    "float32 logits": "_sample copies the last position's logits to float32 before any processor, whatever "
    "dtype the model runs in",
}
"""Facts about transformers' generate() the course states; each is re-checked against the
installed transformers (5.24.0) by tests/test_ecosystem.py."""

SERVER_DETERMINISM: dict[str, str] = {
    "OpenAI API": "seed is Beta and best effort: 'Determinism is not guaranteed'; system_fingerprint changes when "
    "the backend does (openai-python completion_create_params.py, commit 0444895)",
    "Anthropic API": "no seed parameter; 'even with temperature of 0.0, the results will not be fully "
    "deterministic' (anthropic-sdk-python message_create_params.py, commit 00dcf92)",
    "llama.cpp": "cache_prompt (on by default): 'the logits are not guaranteed to be bit-for-bit identical for "
    "different batch sizes (prompt processing vs. token generation)' (tools/server/README.md)",
    "this course": "one process, no batching with strangers, and every draw seeded with "
    "np.random.default_rng(seed): the same settings give the same text on this machine",
}
"""Why T = 0 and a fixed seed are reproducible here and not necessarily on a server: a server's
logits themselves change with the batch a request shares and with its software and hardware."""

FLOAT_FORMATS: dict[str, str] = {
    "float16": "5 exponent bits: largest finite value 65504, so exp() of anything above about 11.1 overflows",
    "bfloat16": "8 exponent bits, the same as float32: largest finite value about 3.4e38, with only 8 bits of "
    "precision; a naive softmax in bfloat16 overflows only where float32's would",
    "float32": "what transformers' generate() samples in: it upcasts the logits before any processor",
}
"""The three float formats around inference (torch.finfo; re-checked by tests/test_ecosystem.py)."""


def spec(library: str, knob: str) -> ParameterSpec:
    """The row for one library and one dial, with a clear error for unknown names."""
    if library not in LIBRARIES:
        raise ValueError(f"library={library!r} is not in the table; choose one of {list(LIBRARIES)}.")
    if knob not in KNOBS:
        raise ValueError(f"knob={knob!r} is not a dial of this course; choose one of {list(KNOBS)}.")
    return next(p for p in PARAMETERS if p.library == library and p.knob == knob)


def defaults(library: str) -> dict[str, float | int | None]:
    """The library's default for every dial it supports, keyed by the course's names."""
    return {k: spec(library, k).default for k in KNOBS if spec(library, k).supported}


def _cell(p: ParameterSpec, unset: str = "unset (off)") -> str:
    if not p.supported:
        return "—"
    default = unset if p.default is None else f"{p.default:g}"
    return f"`{p.name}` = **{default}**<br>{p.allowed}"


def parameter_table_markdown(knobs: tuple[str, ...] = KNOBS) -> str:
    """A Markdown table: one row per dial, one column per library (name, default, range),
    followed by the notes that go with those dials."""
    for knob in knobs:
        spec(LIBRARIES[0], knob)  # an unknown dial gets spec's clear error
    lines = ["| dial | " + " | ".join(LIBRARIES) + " |", "|---" * (len(LIBRARIES) + 1) + "|"]
    for knob in knobs:
        lines.append(f"| {knob} | " + " | ".join(_cell(spec(lib, knob)) for lib in LIBRARIES) + " |")
    notes = [
        f"- **{p.library}, {p.knob}**: {p.note}"
        for p in PARAMETERS
        if p.supported and p.note and p.knob in knobs
    ]
    return "\n".join(lines) + "\n\n" + "\n".join(notes)


def greedy_table_markdown() -> str:
    """A Markdown table: how each library spells "greedy"."""
    rows = [f"| {lib} | {GREEDY[lib]} |" for lib in LIBRARIES]
    return "\n".join(["| library | greedy decoding |", "|---|---|", *rows])


# --------------------------------------------------------------------------------------------
# What a lesson shows, and the full record (docs/ecosystem.md)
# --------------------------------------------------------------------------------------------

# What marks a parenthesis as a citation: a file, a commit, an issue, a paper id, a version, a test.
_CITATION = re.compile(
    r"\.(py|h|cpp|md)\b|\bcommit [0-9a-f]{7}|re-checked|tests/|arXiv:|#\d+|\btransformers \d+\.\d+|\b20\d\d-\d\d-\d\d\b"
)


def learner_text(fact: str) -> str:
    """`fact` as a lesson shows it: without the parentheses that say where it was checked, nor a
    clause about the course's own tests. docs/ecosystem.md (:func:`reference_markdown`) keeps both."""
    kept, depth, start = [], 0, 0
    for i, char in enumerate(fact):
        if char == "(":
            if depth == 0:
                kept.append(fact[start:i])
                start = i
            depth += 1
        elif char == ")" and depth:
            depth -= 1
            if depth == 0:
                group = fact[start:i + 1]
                kept.append("" if _CITATION.search(group) else group)
                start = i + 1
    kept.append(fact[start:])
    text = re.sub(r"\s+([,;:.])", r"\1", re.sub(r"\s{2,}", " ", "".join(kept))).strip()
    clauses = [clause for clause in text.split("; ") if "tests/" not in clause]
    return "; ".join(clauses).rstrip(" ;")


def facts_markdown(facts: dict[str, str]) -> str:
    """A Markdown list of facts (``LOGPROBS``, ``SERVER_DETERMINISM``...) as a lesson shows them."""
    return "\n".join(f"- **{who}**: {learner_text(fact)}" for who, fact in facts.items())


REFERENCE_DOC = "docs/ecosystem.md"
"""Where the full record lives for instructors and curious learners; lessons link to it."""


def reference_markdown() -> str:
    """Every record of this module in full, with its sources: the text of docs/ecosystem.md."""
    doc = __doc__.split("\n\n", 1)[1]  # the sources, after the module's one-line summary
    parts = [
        "# The libraries and papers the course quotes, and where each fact was checked",
        "Generated from `course_utils/ecosystem.py` by `make ecosystem-doc`; do not edit by hand. "
        "A lesson's *In the wild* section shows these facts without their sources; here they are whole.",
        "## Where the sampling defaults were checked", doc.strip(),
        "## The sampling dials", parameter_table_markdown(),
        "## Penalties, biases and whitelists", penalty_table_markdown(),
        "## Each library's chain", "\n".join(
            f"- **{lib}**: {' → '.join(PENALTIES[lib].chain)} ({PENALTIES[lib].source})" for lib in LIBRARIES),
        "## Structured output", structured_output_table_markdown(),
        "## Stopping", stopping_table_markdown(),
        "## The samplers beyond top-p",
    ]
    for dial, entry in SAMPLERS.items():
        parts += [f"### `{dial}`", "\n".join(f"- **{who}**: {fact}" for who, fact in entry.items())]
    parts += ["## Speculative decoding"]
    for library, entry in SPECULATIVE_DECODING.items():
        parts += [f"### {library}", "\n".join(f"- **{what}**: {fact}" for what, fact in entry.items())]
    for name in __all__:
        record = globals()[name]
        if name.isupper() and isinstance(record, dict) and all(isinstance(v, str) for v in record.values()):
            parts += [f"## `{name}`", "\n".join(f"- **{who}**: {fact}" for who, fact in record.items())]
    return "\n\n".join(parts) + "\n"


# --------------------------------------------------------------------------------------------
# Repetition dials, bias and whitelists: the stage every library runs before temperature
# --------------------------------------------------------------------------------------------

PENALTY_DIALS = (
    "repetition_penalty",
    "frequency_penalty",
    "presence_penalty",
    "no_repeat_ngram_size",
    "repeat_last_n",
    "logit_bias",
    "allowed_token_ids",
)
"""The course's names for these dials (`sampling.penalize_logits`): Hugging Face's, OpenAI's,
llama.cpp's (`repeat_last_n`) and vLLM's (`allowed_token_ids`)."""

HISTORY_DIALS = ("repetition_penalty", "frequency_penalty", "presence_penalty", "no_repeat_ngram_size", "repeat_last_n")
"""The dials among them that read the tokens seen so far (the others act on fixed token ids)."""


@dataclass(frozen=True)
class LibraryPenalties:
    """One library's repetition dials, what they count, and where they sit in its chain."""

    dials: tuple[ParameterSpec, ...]  # one row per PENALTY_DIALS entry (supported or not)
    counts: str  # which token ids the penalties read
    chain: tuple[str, ...]  # the library's stages in order, from raw logits to the draw
    source: str  # where this was checked

    def dial(self, name: str) -> ParameterSpec:
        if name not in PENALTY_DIALS:
            raise ValueError(f"dial={name!r} is not a repetition dial; choose one of {list(PENALTY_DIALS)}.")
        return next(d for d in self.dials if d.knob == name)


def _no(library: str, dial: str, note: str = "not offered") -> ParameterSpec:
    return ParameterSpec(library, dial, False, note=note)


PENALTIES: dict[str, LibraryPenalties] = {
    "OpenAI API": LibraryPenalties(
        dials=(
            _no("OpenAI API", "repetition_penalty"),
            ParameterSpec("OpenAI API", "frequency_penalty", True, "frequency_penalty", 0.0, "-2 to 2", "0",
                          "logit -= count * frequency_penalty, count = times the token was generated"),
            ParameterSpec("OpenAI API", "presence_penalty", True, "presence_penalty", 0.0, "-2 to 2", "0",
                          "logit -= presence_penalty once the token was generated at all"),
            _no("OpenAI API", "no_repeat_ngram_size"),
            _no("OpenAI API", "repeat_last_n"),
            ParameterSpec("OpenAI API", "logit_bias", True, "logit_bias", None, "token id -> -100 to 100", "{}",
                          "added to the logits prior to sampling; -100 bans a token, +100 forces it"),
            _no("OpenAI API", "allowed_token_ids"),
        ),
        counts="the generated tokens only (the prompt is not counted)",
        chain=("logit_bias", "frequency/presence penalties", "sampling (temperature, top_p)"),
        source="openai-python src/openai/types/chat/completion_create_params.py (commit 0444895): "
        "'Number between -2.0 and 2.0', logit_bias 'from -100 to 100 ... added to the logits generated by the "
        "model prior to sampling'; the formula is the API's parameter-details page, which vLLM cites and "
        "implements (vllm/model_executor/layers/utils.py, apply_penalties). The order within the API is not "
        "documented; this is vLLM's.",
    ),
    "Anthropic API": LibraryPenalties(
        dials=tuple(_no("Anthropic API", dial) for dial in PENALTY_DIALS),
        counts="nothing: the Messages API has no repetition dials",
        chain=("not documented",),
        source="anthropic-sdk-python src/anthropic/types/message_create_params.py (commit 00dcf92): no "
        "frequency_penalty, presence_penalty, repetition_penalty or logit_bias among the parameters",
    ),
    "Hugging Face transformers": LibraryPenalties(
        dials=(
            ParameterSpec("Hugging Face transformers", "repetition_penalty", True, "repetition_penalty", 1.0,
                          "> 0", "1.0", "RepetitionPenaltyLogitsProcessor: logit / p if > 0, logit * p if < 0, "
                          "for every token in the prompt or the generated text"),
            _no("Hugging Face transformers", "frequency_penalty"),
            _no("Hugging Face transformers", "presence_penalty"),
            ParameterSpec("Hugging Face transformers", "no_repeat_ngram_size", True, "no_repeat_ngram_size", 0,
                          "integer >= 0", "0", "NoRepeatNGramLogitsProcessor: -inf for a token that would repeat "
                          "an n-gram of the prompt or the generated text"),
            _no("Hugging Face transformers", "repeat_last_n", "not offered: the whole text counts"),
            ParameterSpec("Hugging Face transformers", "logit_bias", True, "sequence_bias", None,
                          "{(token ids...): bias}", "None", "a bias for a one-token sequence is a logit bias"),
            _no("Hugging Face transformers", "allowed_token_ids",
                "not a generate() setting; prefix_allowed_tokens_fn or bad_words_ids do this job"),
        ),
        counts="prompt + generated tokens (a decoder-only model's input_ids hold both)",
        chain=("sequence_bias", "repetition_penalty", "no_repeat_ngram_size", "(other processors)",
               "temperature", "top_k", "top_p", "min_p", "draw"),
        source="transformers 5.24.0 (installed): GenerationMixin._get_logits_processor appends "
        "SequenceBiasLogitsProcessor, RepetitionPenaltyLogitsProcessor, NoRepeatNGramLogitsProcessor in that order "
        "and the warpers (temperature, top-k, top-p, min-p) after every processor; defaults repetition_penalty=1.0, "
        "no_repeat_ngram_size=0 in GenerationConfig._get_default_generation_params (re-checked by "
        "tests/test_penalties.py)",
    ),
    "llama.cpp": LibraryPenalties(
        dials=(
            ParameterSpec("llama.cpp", "repetition_penalty", True, "--repeat-penalty / repeat_penalty", 1.0,
                          "any real (1.0 = disabled)", "1.0",
                          "logit * p if <= 0, logit / p otherwise, for tokens in the window"),
            ParameterSpec("llama.cpp", "frequency_penalty", True, "--frequency-penalty / frequency_penalty", 0.0,
                          "any real (0.0 = disabled)", "0.0", "count = times in the window, prompt included"),
            ParameterSpec("llama.cpp", "presence_penalty", True, "--presence-penalty / presence_penalty", 0.0,
                          "any real (0.0 = disabled)", "0.0", "once per token in the window"),
            _no("llama.cpp", "no_repeat_ngram_size",
                "not offered; the DRY sampler (--dry-multiplier, 0 = off by default) penalises extending repeats"),
            ParameterSpec("llama.cpp", "repeat_last_n", True, "--repeat-last-n / repeat_last_n", 64,
                          "integer (0 = disable)", "0", "the window all three penalties count in"),
            ParameterSpec("llama.cpp", "logit_bias", True, "--logit-bias / logit_bias", None, "token id -> bias",
                          "none", "first sampler of the chain"),
            _no("llama.cpp", "allowed_token_ids", "not offered; a grammar (--grammar) restricts tokens"),
        ),
        counts="the last repeat_last_n tokens of prompt + generated (llama-cli feeds the prompt into the sampler "
        "'in order to apply repetition penalties later'; llama-server too, under the OpenAI names: "
        "'Process all prompt tokens through sampler system', tools/server)",
        chain=("logit_bias", "penalties", "dry", "top_n_sigma", "top_k", "typical_p", "top_p", "min_p", "xtc",
               "temperature", "dist (draw)"),
        source="ggml-org/llama.cpp: common/common.h struct common_params_sampling (commit 001d906): "
        "penalty_last_n = 64, penalty_repeat = 1.00, penalty_freq = 0.00, penalty_present = 0.00 and the default "
        "samplers list starting with PENALTIES; common/sampling.cpp (commit 00efb3e) adds logit_bias before that "
        "list; src/llama-sampling.cpp (commit 0344068) llama_sampler_penalties_apply (the rule) and "
        "llama_sampler_penalties_accept (the window)",
    ),
    "vLLM": LibraryPenalties(
        dials=(
            ParameterSpec("vLLM", "repetition_penalty", True, "repetition_penalty", 1.0, "> 0", "1.0",
                          "Hugging Face's rule, over prompt + generated tokens"),
            ParameterSpec("vLLM", "frequency_penalty", True, "frequency_penalty", 0.0, "-2 to 2", "0.0",
                          "OpenAI's rule, generated tokens only"),
            ParameterSpec("vLLM", "presence_penalty", True, "presence_penalty", 0.0, "-2 to 2", "0.0",
                          "OpenAI's rule, generated tokens only"),
            _no("vLLM", "no_repeat_ngram_size"),
            _no("vLLM", "repeat_last_n", "not offered: the whole text counts"),
            ParameterSpec("vLLM", "logit_bias", True, "logit_bias", None, "token id -> bias", "None", ""),
            ParameterSpec("vLLM", "allowed_token_ids", True, "allowed_token_ids", None, "list of token ids", "None",
                          "every other token gets -inf"),
        ),
        counts="repetition_penalty: prompt + generated; frequency and presence: generated only",
        chain=("allowed_token_ids", "bad_words", "min_tokens, logit_bias", "repetition_penalty",
               "frequency_penalty", "presence_penalty", "temperature", "min_p", "top_k/top_p", "draw"),
        source="vllm-project/vllm: vllm/v1/sample/sampler.py class Sampler docstring and apply_logits_processors "
        "(commit 3e34265); vllm/model_executor/layers/utils.py apply_penalties; vllm/sampling_params.py "
        "_verify_args (presence and frequency in [-2, 2], repetition_penalty > 0)",
    ),
}
"""Where each library puts these dials. All of them act on the raw logits, before temperature and
truncation; `course_utils.sampling` does the same in both of its orders: allowed_token_ids ->
logit_bias -> repetition_penalty -> frequency/presence -> no_repeat_ngram_size -> the chain."""


def penalty_table_markdown(dials: tuple[str, ...] = PENALTY_DIALS) -> str:
    """A Markdown table: one row per repetition dial, one column per library, then the notes
    and which tokens each library counts."""
    for dial in dials:
        PENALTIES[LIBRARIES[0]].dial(dial)  # an unknown dial gets a clear error
    lines = ["| dial | " + " | ".join(LIBRARIES) + " |", "|---" * (len(LIBRARIES) + 1) + "|"]
    for dial in dials:
        lines.append(f"| {dial} | " + " | ".join(_cell(PENALTIES[lib].dial(dial), unset="unset") for lib in LIBRARIES) + " |")
    notes = [
        f"- **{lib}, {d.knob}**: {d.note}" for lib in LIBRARIES for d in PENALTIES[lib].dials
        if d.supported and d.note and d.knob in dials
    ]
    # Which tokens a library counts matters to the dials that read the history, not to a bias or a whitelist.
    reads_history = set(dials) & set(HISTORY_DIALS)
    counts = [f"- **{lib}** counts {PENALTIES[lib].counts}." for lib in LIBRARIES] if reads_history else []
    return "\n".join(lines) + "\n\n" + "\n".join(notes + counts)


def penalty_chain_markdown() -> str:
    """A Markdown list: each library's stages in order (where that was checked: docs/ecosystem.md)."""
    return "\n".join(f"- **{lib}**: {' → '.join(PENALTIES[lib].chain)}" for lib in LIBRARIES)


BEAM_SEARCH: dict[str, str] = {
    "Hugging Face transformers": "generate(num_beams=k, do_sample=False); defaults num_beams=1 (off), "
    "length_penalty=1.0, early_stopping=False (GenerationConfig._get_default_generation_params, transformers "
    "5.24.0). A hypothesis scores sum of log-probs / generated_length ** length_penalty, generated_length "
    "counting the new tokens including the end-of-sequence token (GenerationMixin._update_finished_beams); "
    "each step keeps max(2, 1 + number of EOS ids) * num_beams candidates (GenerationMixin._beam_search). "
    "course_utils.beam_search follows it; tests/test_beam_search.py compares them token for token",
    "OpenAI API": "not offered (the API samples; n > 1 gives independent samples, not beams)",
    "Holtzman et al. (2020)": "Table 1: beam search with b = 16: perplexity 1.48, "
    "repetition 28.94 %",
}
"""Beam search, where it exists."""


@dataclass(frozen=True)
class StructuredOutputSpec:
    """How one library constrains output to a format (issue 15; checked 2026-12).

    ``request`` is how a request asks for it, ``formats`` what grammars it takes, ``engine``
    what builds the per-step token mask, ``where`` where that mask meets the sampling chain,
    ``cut_short`` what a reply cut off by the token limit reports, ``source`` where each was read.
    """

    library: str
    request: str
    formats: str
    engine: str
    where: str
    cut_short: str
    source: str


STRUCTURED_OUTPUT: dict[str, StructuredOutputSpec] = {
    "OpenAI API": StructuredOutputSpec(
        "OpenAI API",
        request='response_format={"type": "json_schema", "json_schema": {"name": ..., "schema": {...}, '
        '"strict": true}} (Structured Outputs); {"type": "json_object"} is the older JSON mode; a custom '
        'tool\'s grammar: in the Responses API {"type": "grammar", "syntax": "lark" | "regex", "definition": ...}, '
        'in Chat Completions nested, {"type": "custom", "custom": {"name": ..., "format": {"type": "grammar", '
        '"grammar": {"syntax": ..., "definition": ...}}}}',
        formats="JSON Schema (a subset when strict); Lark or a regular expression for custom tools",
        engine="llguidance, the engine this course runs: \"By May 2025, OpenAI has switched to use "
        "LLGuidance for this feature\" (llguidance's README)",
        where="not documented",
        cut_short='finish_reason="length": "the maximum number of tokens specified in the request was '
        'reached"; "stop": "a natural stop point or a provided stop sequence"',
        source="openai-python src/openai/types/chat/completion_create_params.py, response_format "
        "(commit 0444895); src/openai/types/shared/custom_tool_input_format.py (Responses) and "
        "src/openai/types/chat/chat_completion_custom_tool_param.py (Chat Completions), the grammar "
        "format; src/openai/types/chat/chat_completion.py, Choice.finish_reason; guidance-ai/llguidance "
        "README.md (commit 1d5fc00)",
    ),
    "Anthropic API": StructuredOutputSpec(
        "Anthropic API",
        request='output_config={"format": {"type": "json_schema", "schema": {...}}} (structured outputs); a '
        "tool's input_schema for tool use",
        formats="JSON Schema",
        engine="not disclosed",
        where="not documented",
        cut_short='stop_reason="max_tokens"; a natural end is "end_turn", a stop sequence "stop_sequence"',
        source="anthropic-sdk-python src/anthropic/types/message_create_params.py (commit 00dcf92), "
        "output_config_param.py and json_output_format_param.py",
    ),
    "Hugging Face transformers": StructuredOutputSpec(
        "Hugging Face transformers",
        request="no schema or grammar argument in generate(); hooks: prefix_allowed_tokens_fn (the allowed "
        "ids per step), bad_words_ids (ban sequences), sequence_bias (bias sequences), or your own "
        "logits_processor (how grammar libraries plug in)",
        formats="none built in: a grammar library supplies the allowed ids",
        engine="PrefixConstrainedLogitsProcessor sets every other token to -inf",
        where="logits processors run before the sampling warpers (temperature, top-k, top-p, min-p), "
        "so the mask is applied to the raw logits, like this course's",
        cut_short="nothing special: generation stops at max_new_tokens",
        source="transformers 5.24.0 generation/utils.py, GenerationMixin._get_logits_processor: "
        "SequenceBias, NoBadWords and PrefixConstrained processors are appended before the warpers "
        "(re-checked by tests/test_structured.py against the installed library)",
    ),
    "llama.cpp": StructuredOutputSpec(
        "llama.cpp",
        request="--grammar / --grammar-file (GBNF), -j / --json-schema (converted to GBNF by "
        "json_schema_to_grammar); the server's JSON takes grammar and json_schema",
        formats="GBNF (llama.cpp's BNF); JSON Schema via conversion; a grammar starting with "
        "%llguidance goes to llguidance when built with -DLLAMA_LLGUIDANCE=ON",
        engine="llama.cpp's own grammar sampler (or llguidance)",
        where="by default the chain samples first and the token is checked against the grammar; only if "
        "it fails is the grammar applied to the raw logits, before the whole chain, and the token "
        "drawn again (grammar_first=true applies it first every time)",
        cut_short='the server reports finish_reason="length" for n_predict, as OpenAI does',
        source="ggml-org/llama.cpp common/sampling.cpp, common_sampler_sample ('grammar-based rejection "
        "sampling', then 'resampling: ... first apply the grammar sampler and then the sampling chain'); "
        "common/sampling.h (grammar_first = false); common/arg.cpp (--grammar, --json-schema); "
        "tools/server to_json_oaicompat_chat (finish_reason \"length\" unless stopped by EOS or a stop word)",
    ),
    "vLLM": StructuredOutputSpec(
        "vLLM",
        request="structured_outputs=StructuredOutputsParams(json=..., regex=..., choice=..., grammar=...) "
        "(guided decoding); its OpenAI-compatible server takes response_format too",
        formats="JSON Schema, regex, a list of choices, a grammar (EBNF/GBNF or Lark), structural tags",
        engine="a backend: xgrammar, guidance (llguidance), outlines or lm-format-enforcer",
        where="the grammar bitmask is applied to the logits before the sampler, which then applies "
        "penalties, temperature and top-k/top-p",
        cut_short='finish_reason="length", as OpenAI',
        source="vllm-project/vllm vllm/v1/worker/gpu_model_runner.py ('Apply structured output bitmasks "
        "if present' before self._sample); vllm/v1/sample/sampler.py; vllm/sampling_params.py "
        "(StructuredOutputsParams); vllm/v1/structured_output/backend_guidance.py (LLMatcher, "
        "whitespace_flexible unless disable_any_whitespace)",
    ),
    "this course": StructuredOutputSpec(
        "this course",
        request='generate(..., json_schema={...}) or generate(..., grammar="start: ..." or '
        '{"syntax": "regex", "definition": ...})',
        formats="JSON Schema (dict or JSON text), Lark, regular expressions (OpenAI's grammar object)",
        engine="llguidance (course_utils.structured)",
        where="every step: the mask on the raw logits, then temperature, top-k, top-p, min-p",
        cut_short='finish_reason="max_new_tokens" (OpenAI\'s "length") and Generation.complete=False',
        source="course_utils/structured.py and course_utils/generation.py",
    ),
}
"""Structured output in each library, keyed by LIBRARIES plus "this course"."""


def structured_output_table_markdown() -> str:
    """A Markdown table: how each library asks for a format, what builds the mask, where it goes."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|")  # "lark" | "regex" would split the Markdown cell

    rows = [
        "| " + " | ".join(cell(x) for x in (s.library, s.request, s.engine, s.where, s.cut_short)) + " |"
        for s in STRUCTURED_OUTPUT.values()
    ]
    header = "| library | how to ask | mask built by | where the mask goes | cut short by the length limit |"
    return "\n".join([header, "|---|---|---|---|---|", *rows])


# --------------------------------------------------------------------------------------------
# Stopping: when a text ends, and what the result says about it (lesson 05)
# --------------------------------------------------------------------------------------------

STOPPING: dict[str, dict[str, str]] = {
    "OpenAI API": {
        "stop": 'stop: a string or a list; "Up to 4 sequences where the API will stop generating further tokens. '
        'The returned text will not contain the stop sequence."',
        "minimum": "none",
        "finish_reason": '"stop" (a natural end or a stop sequence), "length" (max_tokens)',
        "source": "openai/openai-openapi openapi.yaml, CreateCompletionRequest.stop; the openai-python SDK's types",
    },
    "Anthropic API": {
        "stop": 'stop_sequences: a list; the response\'s stop_sequence "will contain the matched stop sequence"',
        "minimum": "none",
        "finish_reason": 'stop_reason: "end_turn", "stop_sequence" or "max_tokens"',
        "source": "anthropic-sdk-python src/anthropic/types/message_create_params.py (commit 00dcf92), stop_sequences",
    },
    "Hugging Face transformers": {
        "stop": "stop_strings: a string or a list (StopStringCriteria; generate() needs tokenizer=); "
        "the stop string stays in the output",
        "minimum": "min_new_tokens: MinNewTokensLengthLogitsProcessor sets the EOS scores to -inf while fewer "
        "new tokens were generated (stop strings still end the text)",
        "finish_reason": "none: the output is the token ids",
        "source": "transformers 5.24.0 generation/configuration_utils.py (stop_strings: \"A string or a list of "
        "strings that should terminate generation if the model outputs them\"), generation/stopping_criteria.py, "
        "generation/logits_process.py; tests/test_engine.py compares the course with the installed library",
    },
    "llama.cpp": {
        "stop": 'the server\'s stop: "a JSON array of stopping strings. These words will not be included in '
        'the completion"',
        "minimum": "none",
        "finish_reason": '"stop" or "length" in the server\'s OpenAI-compatible API',
        "source": "ggml-org/llama.cpp tools/server/README.md",
    },
    "vLLM": {
        "stop": 'stop: a list; "The returned output will not contain the stop strings" '
        "(include_stop_str_in_output=False by default)",
        "minimum": "min_tokens: neither EOS nor stop_token_ids before it",
        "finish_reason": '"stop" or "length", as OpenAI',
        "source": "vllm-project/vllm vllm/sampling_params.py, the SamplingParams docstring",
    },
    "this course": {
        "stop": "generate(stop=...): up to 4 strings, as OpenAI; the text ends before the first occurrence of "
        "any, even one that straddles tokens; Generation.stop_string says which",
        "minimum": "min_new_tokens, as Hugging Face (a processor in the chain: processors.MinNewTokens)",
        "finish_reason": '"eos", "stop" or "max_new_tokens" (OpenAI\'s "length")',
        "source": "course_utils/generation.py",
    },
}
"""Each library's stop strings, minimum length and finish reason, with where it was checked."""


def stopping_table_markdown() -> str:
    """Lesson 05's table: how each library stops a text and says why."""
    rows = ["| library | stop strings | a minimum length | why it ended |", "|---|---|---|---|"]
    rows += [f"| {name} | {s['stop']} | {s['minimum']} | {s['finish_reason']} |" for name, s in STOPPING.items()]
    return "\n".join(rows)


ANTHROPIC_REFUSALS: dict[str, str] = {
    "temperature and top_p together": "\"`temperature` and `top_p` cannot both be specified for this model. Please "
    "use only one.\" (HTTP 400 for claude-sonnet-4-5-20250929, quoted in BerriAI/litellm#15097, 2025-10-01; for "
    "Claude Opus 4.1 in anomalyco/opencode#1644, 2025-08-06)",
    "any temperature": "\"`temperature` is deprecated for this model.\" (claude-opus-4-8, quoted in "
    "The-PR-Agent/pr-agent#2456, 2026-06-18); \"`temperature` may only be set to 1 when thinking is enabled or in "
    "adaptive mode.\" (quoted in mnfst/modelparams.dev#214, 2026-08-09)",
}
"""What some Claude models refuse, in the API's own error texts as users quoted them (dated: these
change with each model; the SDK's parameter docs do not list them)."""


PENALTY_ADVICE: dict[str, str] = {
    "OpenAI": "frequency_penalty and presence_penalty: 'Reasonable values for the penalty coefficients are around "
    "0.1 to 1 if the aim is to just reduce repetitive samples somewhat. If the aim is to strongly suppress "
    "repetition, then one can increase the coefficients up to 2, but this can noticeably degrade the quality of "
    "samples.' (the API guide's Parameter details, as mirrored in openai-cookbook and vLLM's docs)",
    "CTRL (Keskar et al., 2019)": "repetition_penalty 1.2 with greedy sampling: the paper's 'good balance between "
    "truthful generation and lack of repetition' (arXiv:1909.05858, section 4.1), the value Hugging Face's "
    "docs repeat",
    "llama.cpp": "repeat_penalty 1.0 (off), repeat_last_n 64, frequency and presence 0.0 by default "
    "(common/common.h, struct common_params_sampling, commit 001d906)",
    "Hugging Face transformers": "repetition_penalty 1.0 (off) by default; RepetitionPenaltyLogitsProcessor(penalty, "
    "prompt_ignore_length=n) leaves the prompt's first n tokens out, the fix for a prompt word penalised in the "
    "answer, but generate() passes only the padding there, so it takes a custom logits_processor (transformers "
    "5.24.0 generation/logits_process.py; re-checked by tests/test_penalties.py)",
}
"""Where to start with each penalty, from the sources that set or recommend the values."""


# --------------------------------------------------------------------------------------------
# Speculative decoding: a draft's guesses checked by one pass of the model (lesson 09, issue 25)
# --------------------------------------------------------------------------------------------

SPECULATIVE_DECODING: dict[str, dict[str, str]] = {
    "Hugging Face transformers": {
        "parameters": "generate(assistant_model=...): a smaller model that \"must have the exact same tokenizer\"; "
        "num_assistant_tokens: its tokens per check (default 20, num_assistant_tokens_schedule=\"constant\"); "
        "prompt_lookup_num_tokens=g: prompt lookup, up to g tokens; max_matching_ngram_size: the longest n-gram it "
        "matches (\"Default to 2 if not provided\"); assistant_early_exit=k: the model's own first k layers as the "
        "draft, for \"models that support early exit (i.e. models where logits from intermediate layers can be "
        "interpreted by the LM head)\"",
        "draft": "prompt lookup: the text's last n-gram, n from max_matching_ngram_size down to 1, at its first "
        "earlier occurrence with tokens after it; the draft stops before a token the logits processors set to -inf "
        "and before an end-of-sequence token",
        "rule": "sampling with a draft model's logits: Leviathan et al.'s Algorithm 1 (_speculative_sampling); "
        "otherwise (greedy, or prompt lookup, which has no logits) the model's own token at every position, the "
        "draft kept up to the first mismatch",
        "limits": "batch_size > 1 (\"assisted generate is only supported for batch_size = 1\") and "
        "num_return_sequences > 1; with num_beams > 1 it only warns that assisted generate \"is only supported "
        "with Greedy Search and Sample\" and runs beam search, \"some of the set flags will be ignored\"",
        "source": "transformers 5.24.0 generation/configuration_utils.py (the GenerationConfig docstring, "
        "_get_default_generation_params, get_generation_mode), generation/utils.py (generate's docstring, "
        "_get_candidate_generator, _assisted_decoding), generation/candidate_generator.py "
        "(PromptLookupCandidateGenerator, EarlyExitCandidateGenerator); tests/test_speculative.py compares prompt "
        "lookup's drafts and its greedy text with the installed library",
        "checked": "2026-12-07",
    },
    "vLLM": {
        "parameters": "speculative_config={\"method\": ..., \"num_speculative_tokens\": ..., \"model\": ...}; methods: "
        "\"ngram\" (prompt_lookup_max required, prompt_lookup_min default 1), \"ngram_gpu\", \"suffix\", "
        "\"draft_model\", \"medusa\", \"mlp_speculator\", \"eagle\", \"eagle3\", the MTP heads (\"mtp\", "
        "\"deepseek_mtp\", ...), \"dflash\", \"dspark\", \"extract_hidden_states\", \"custom_class\"",
        "draft": "draft_sample_method \"greedy\" by default (\"the draft probabilities are treated as one-hot during "
        "rejection sampling\") or \"probabilistic\" (\"uses the full draft logits for the probability ratio test\")",
        "rule": "rejection_sample_method \"standard\" by default (\"probabilistic rejection sampling\"); "
        "\"synthetic\" (a set acceptance rate, for benchmarks) and \"block\" (Sun et al.'s block verification)",
        "limits": "not checked",
        "source": "vllm-project/vllm vllm/config/speculative.py, class SpeculativeConfig and the SpeculativeMethod "
        "literal (commit 002e77c)",
        "checked": "2026-12-07",
    },
    "llama.cpp": {
        "parameters": "llama-server --spec-type (a comma-separated list of none, draft-simple, draft-eagle3, "
        "draft-mtp, draft-dflash, draft-dspark, ngram-simple, ngram-map-k, ngram-map-k4v, ngram-mod, ngram-cache; "
        "default none), --spec-draft-model / -md (the draft model), --spec-draft-n-max (tokens to draft, default 3), "
        "--spec-draft-n-min (default 0), --spec-draft-p-min (\"minimum speculative decoding probability (greedy)\", "
        "default 0.00), the --spec-ngram-* sizes; the older --draft-max and --draft-min \"has been removed\"",
        "draft": "--spec-draft-sampling greedy (the default: \"takes its argmax\") or probabilistic (\"samples it and "
        "has the target verify by rejection sampling\")",
        "rule": "not documented beyond --spec-draft-sampling",
        "limits": "not checked",
        "source": "ggml-org/llama.cpp tools/server/README.md, the server's options (commit 00dc805); docs/speculative.md "
        "(commit 067318e) describes the n-gram types",
        "checked": "2026-12-07",
    },
    "OpenAI API": {
        "parameters": "Predicted Outputs: Chat Completions' prediction={\"type\": \"content\", \"content\": ...}, \"The content "
        "that should be matched when generating a model response. If generated tokens would match this content, the "
        "entire model response can be returned much more quickly.\" Models: \"the latest gpt-4o, gpt-4o-mini, "
        "gpt-4.1, gpt-4.1-mini, and gpt-4.1-nano models\"",
        "draft": "the text the request gives (typically the file being edited); usage.completion_tokens_details "
        "counts accepted_prediction_tokens and rejected_prediction_tokens",
        "rule": "not documented (whether the check keeps the sampled distribution is not said)",
        "limits": "cost: \"any rejected tokens are still billed like other completion tokens generated by the API, so "
        "Predicted Outputs can introduce higher costs for your requests\"",
        "source": "openai-python src/openai/types/chat/chat_completion_prediction_content_param.py (commit 0444895); "
        "the Predicted Outputs guide, developers.openai.com/api/docs/guides/predicted-outputs (its models sentence "
        "read there, its billing sentence in a mirror of the page)",
        "checked": "2026-12-07",
    },
    "this course": {
        "parameters": "generate(prompt_lookup_num_tokens=g, max_matching_ngram_size=n) and "
        "generate(assistant_early_exit=k), Hugging Face's names; Generation.verifications records every check",
        "draft": "prompt lookup as Hugging Face's; the early-exit draft is the course's model after its first k of 30 "
        "blocks, through the final norm, the LM head and the same chain (a real q)",
        "rule": "Leviathan et al.'s, written once (course_utils.speculative.verify); prompt lookup is its one-hot q",
        "limits": "generate_batch() and num_beams > 1 refuse it, and so do XTC and mirostat (a position has no one p); "
        "every accept test and draw of a check has a margin, held to COURSE_MIN_MARGIN like every other draw",
        "source": "course_utils/speculative.py; tests/test_speculative.py",
        "checked": "2026-12-07",
    },
}
"""Speculative decoding where it exists: how to ask for it, the draft, the accept/reject rule, what it
refuses or costs (limits), and where each was read (dated)."""


def speculative_markdown() -> str:
    """``SPECULATIVE_DECODING`` as lesson 09 shows it: per tool, how to ask for it, its draft, its
    rule and its limits, without the sources (docs/ecosystem.md keeps them)."""
    shown = ("parameters", "draft", "rule", "limits")
    return "\n".join(
        f"- **{tool}**\n" + "\n".join(f"  - *{what}*: {learner_text(entry[what])}" for what in shown)
        for tool, entry in SPECULATIVE_DECODING.items()
    )


SAMPLER_LIBRARIES = ("Hugging Face transformers", "llama.cpp", "llama-server", "Ollama")
"""The tools ``SAMPLERS`` records, in the order lesson 08's table shows them."""


def _sampler_names(library: str, fact: str) -> str:
    """The parameter names a ``SAMPLERS`` entry gives (llama-server: the quoted names), or a dash."""
    if fact.startswith("not offered"):
        return "—"
    if library == "llama-server":
        return ", ".join(f"`{name}`" for name in re.findall(r'"([a-z_]+)"', fact.split(" as ", 1)[1]))
    while (bare := re.sub(r"\([^()]*\)", "", fact)) != fact:  # drop every parenthesis, nested ones too
        fact = bare
    names = re.findall(r"\b(?:[a-z]+_[a-z_]+|mirostat)\b", fact.split(";", 1)[0])
    return ", ".join(f"`{name}`" for name in dict.fromkeys(names))


def samplers_table_markdown() -> str:
    """A Markdown table: for each sampler beyond top-p, the names each tool takes it by (— : not offered)."""
    lines = ["| sampler | " + " | ".join(SAMPLER_LIBRARIES) + " |", "|---" * (len(SAMPLER_LIBRARIES) + 1) + "|"]
    for dial, entry in SAMPLERS.items():
        lines.append(f"| {dial} | " + " | ".join(_sampler_names(lib, entry[lib]) for lib in SAMPLER_LIBRARIES) + " |")
    return "\n".join(lines)


MIN_P_DEBATE: dict[str, str] = {
    "Nguyen et al. 2024, the min-p paper": "min-p 'improves both the quality and diversity of generated text across "
    "different model families (Mistral and Llama 3) and model sizes (1B to 123B parameters), especially at higher "
    "temperatures', on GPQA, GSM8K and AlpacaEval Creative Writing, and human raters preferred it "
    "(Turning Up the Heat: Min-p Sampling for Creative and Coherent LLM Outputs, ICLR 2025, arXiv:2407.01082v8, "
    "abstract, read 2026-12-07)",
    "Schaeffer, Kazdan and Denisov-Blanch 2025, the critique": "when every sampler gets the same hyperparameter "
    "search budget (their 'Best-of-N' protocol), min-p's best GSM8K scores 'closely track or overlap' top-p's and "
    "top-k's; with that protocol and sound statistics 'the evidence for min-p's superiority vanishes', its human "
    "evaluations included (Min-p, Max Exaggeration, arXiv:2506.13681; the authors' manuscript source, "
    "RylanSchaeffer/KoyejoLab-Min-p-Sampling manuscript/01_introduction.tex, commit 0e8dea3, read 2026-12-07)",
}
"""The min-p claim lesson 08's small study is set against, and the published critique of its evidence."""


if __name__ == "__main__":
    print(reference_markdown(), end="")
