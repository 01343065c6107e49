"""The sampling dials as four popular stacks name them: names, allowed values, defaults.

Data, not prose: lesson 04's "in the wild" table is generated from `PARAMETERS`, so a
changed default is fixed in one place and every table follows. This module sits at the
level of `sampling` and imports nothing from the course.

Where each value was checked (2026-11, cite these when you update a row):

- OpenAI Chat Completions: the API reference and the openai-python SDK,
  ``src/openai/types/chat/completion_create_params.py`` (commit 0444895): "What sampling
  temperature to use, between 0 and 2"; ``top_p`` is "nucleus sampling". Both default to 1
  in the API reference. The API has no ``top_k`` and no ``min_p``.
- Hugging Face transformers 5.23.0, the version in this course's ``reference`` extra:
  ``GenerationConfig._get_default_generation_params()`` returns ``do_sample=False``,
  ``temperature=1.0``, ``top_k=50``, ``top_p=1.0``; ``min_p`` is ``None`` (off).
  ``TemperatureLogitsWarper(0.0)`` raises "... set `do_sample=False`". The test
  ``tests/test_ecosystem.py`` re-checks these against the installed library.
- llama.cpp: ``common/common.h``, ``struct common_params_sampling`` (ggml-org/llama.cpp,
  commit 001d906): ``top_k = 40`` ("<= 0 to use vocab size"), ``top_p = 0.95f``
  ("1.0 = disabled"), ``min_p = 0.05f`` ("0.0 = disabled"), ``temp = 0.80f`` ("<= 0.0 to
  sample greedily"); the default sampler chain runs top-k, typical-p, top-p, min-p, XTC and
  temperature last.
- vLLM: ``vllm/sampling_params.py``, ``class SamplingParams`` (vllm-project/vllm, commit
  00388f6): ``temperature = 1.0`` ("Zero means greedy sampling"; checked to lie in [0, 2]),
  ``top_p = 1.0`` (must be in (0, 1]), ``top_k = 0`` ("Set to 0 (or -1) to consider all
  tokens"), ``min_p = 0.0`` (in [0, 1], 0 disables).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "KNOBS",
    "LIBRARIES",
    "CHAIN_ORDER",
    "GREEDY",
    "SOURCES",
    "DRAW",
    "ParameterSpec",
    "PARAMETERS",
    "spec",
    "defaults",
    "parameter_table_markdown",
    "greedy_table_markdown",
    "sources_markdown",
    "StructuredOutputSpec",
    "STRUCTURED_OUTPUT",
    "structured_output_table_markdown",
]

KNOBS = ("temperature", "top_k", "top_p", "min_p")
"""The course's names for the four dials (Hugging Face's names)."""

LIBRARIES = ("OpenAI API", "Hugging Face transformers", "llama.cpp", "vLLM")


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
                  "0 is accepted and means (near-)greedy; identical outputs are not guaranteed"),
    ParameterSpec("OpenAI API", "top_k", False, note="not offered"),
    ParameterSpec("OpenAI API", "top_p", True, "top_p", 1.0, "0 to 1", "1",
                  "the docs advise changing temperature or top_p, not both"),
    ParameterSpec("OpenAI API", "min_p", False, note="not offered"),
    # Hugging Face transformers, generate()
    ParameterSpec("Hugging Face transformers", "temperature", True, "temperature", 1.0,
                  "greater than 0 (0 raises an error when sampling)", "1.0",
                  "used only with do_sample=True, and do_sample defaults to False (greedy)"),
    ParameterSpec("Hugging Face transformers", "top_k", True, "top_k", 50, "integer >= 0", "0",
                  "on by default: sampling keeps only the 50 most likely tokens unless you set top_k=0"),
    ParameterSpec("Hugging Face transformers", "top_p", True, "top_p", 1.0, "0 to 1", "1.0", ""),
    ParameterSpec("Hugging Face transformers", "min_p", True, "min_p", None, "0 to 1", "None or 0",
                  "applied after temperature"),
    # llama.cpp (llama-cli flags; the server's JSON uses the long names)
    ParameterSpec("llama.cpp", "temperature", True, "--temp / temperature", 0.8, "any real",
                  "1.0", "<= 0 means greedy; applied LAST in the default chain"),
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
    "Hugging Face transformers": "transformers 5.23.0: GenerationConfig defaults and TemperatureLogitsWarper "
    "(re-checked by tests/test_ecosystem.py against the installed library)",
    "llama.cpp": "ggml-org/llama.cpp common/common.h, struct common_params_sampling (commit 001d906)",
    "vLLM": "vllm-project/vllm vllm/sampling_params.py, class SamplingParams (commit 00388f6)",
}
"""Where each library's row was checked; defaults change between releases, so re-check here first."""

GREEDY: dict[str, str] = {
    "OpenAI API": "temperature=0",
    "Hugging Face transformers": "do_sample=False (the default); temperature=0 with do_sample=True raises ValueError",
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


def _cell(p: ParameterSpec) -> str:
    if not p.supported:
        return "—"
    default = "unset (off)" if p.default is None else f"{p.default:g}"
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


def sources_markdown() -> str:
    """A Markdown list: where each library's values were checked."""
    return "\n".join(f"- **{lib}**: {SOURCES[lib]}" for lib in LIBRARIES)


def greedy_table_markdown() -> str:
    """A Markdown table: how each library spells "greedy"."""
    rows = [f"| {lib} | {GREEDY[lib]} |" for lib in LIBRARIES]
    return "\n".join(["| library | greedy decoding |", "|---|---|", *rows])


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
        '"strict": true}} (Structured Outputs); {"type": "json_object"} is the older JSON mode; custom '
        'tools take {"type": "grammar", "syntax": "lark" | "regex", "definition": ...}',
        formats="JSON Schema (a subset when strict); Lark or a regular expression for custom tools",
        engine="not disclosed (server side)",
        where="not documented",
        cut_short='finish_reason="length": "the message content may be partially cut off" (the API '
        'reference, on JSON mode); a natural end is finish_reason="stop"',
        source="openai-python src/openai/types/chat/completion_create_params.py, response_format "
        "(commit 0444895); src/openai/types/shared/custom_tool_input_format.py, Grammar; the API "
        "reference's finish_reason",
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
