"""A small replication of Holtzman et al. (2020), Table 1, with the course's SmolLM2 model.

"The Curious Case of Neural Text Degeneration" generated continuations of WebText prompts with
GPT-2 Large under several decoding methods and measured them. This script does the same with
SmolLM2-135M-Instruct (in plain-text mode, no chat template) over the prompts shipped in
``data/holtzman_prompts.json``, and writes one JSON results file that lesson 05 plots next to
the paper's numbers. The committed ``data/holtzman_replication.json`` came from

    .venv/bin/python scripts/replicate_holtzman.py \\
        --prompts 36 --max-new-tokens 200 --batch-size 36 --seed 0 --out data/holtzman_replication.json

(37,268 generated tokens in about 6 minutes on a 2-core machine; a progress bar shows how
far it got). ``--batch-size`` changes only the speed, never the results.

Methods: greedy, beam search with 16 beams (as the paper; course_utils.beam_search, exactly
Hugging Face's), pure sampling (T=1, top_k=0: the whole vocabulary), T=0.7, top-k 40, top-p 0.95
(nucleus) and min-p 0.1, each with Hugging Face's semantics (course_utils.sampling); and two cures
for repetition the paper did not run: greedy with repetition_penalty 1.2 (Hugging Face's) and
T=0.7 with frequency_penalty 0.5 (OpenAI's).
Metrics (course_utils.degeneration): repetition % (generations that end in a repeating loop),
distinct-2, Self-BLEU-4, and perplexity -- the model's own, from the log-probability each
generated token had under the *unmodified* distribution (T=1, no truncation), as in the paper.

Every generation of a prompt uses the same seed whatever the method (``[seed, prompt_index]``),
so methods differ only by their settings. A generation stops at an end-of-sequence token (which
is not counted as a generated token) or after ``max_new_tokens``. Prompts run in batches through
the numpy model with ``course_utils.generation.generate_batch``; a row's result does not depend
on the batch it ran in, since each row has its own random generator.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from course_utils.degeneration import (
    PAPER_SOURCE,
    PAPER_TABLE1,
    distinct_n,
    loop_at_end,
    perplexity,
    repetition_rate,
    self_bleu,
)
from course_utils.generation import generate, generate_batch
from course_utils.model import load_model

REPO = Path(__file__).resolve().parent.parent
PROMPT_FILE = REPO / "data" / "holtzman_prompts.json"
SCHEMA_VERSION = 1

# name -> (label for plots and tables, sampling settings). Names of the paper's rows match
# the keys of PAPER_TABLE1.
METHODS: dict[str, tuple[str, dict]] = {
    "greedy": ("Greedy", {"temperature": 0.0}),
    "beam_search_16": ("Beam search (16 beams)", {"num_beams": 16}),
    "pure_sampling": ("Pure sampling (T=1, top_k=0)", {"temperature": 1.0, "top_k": 0}),
    "temperature_0.7": ("Temperature 0.7", {"temperature": 0.7}),
    "top_k_40": ("Top-k 40", {"top_k": 40}),
    "top_p_0.95": ("Top-p (nucleus) 0.95", {"top_p": 0.95}),
    "min_p_0.1": ("Min-p 0.1", {"min_p": 0.1}),
    "greedy_repetition_penalty_1.2": ("Greedy + repetition_penalty 1.2", {"temperature": 0.0, "repetition_penalty": 1.2}),
    "temperature_0.7_frequency_penalty_0.5": (
        "T=0.7 + frequency_penalty 0.5",
        {"temperature": 0.7, "frequency_penalty": 0.5},
    ),
}

METRIC_DEFINITIONS = {
    "repetition_pct": "% of generations that end in a repeating loop: the tail is periodic for "
    "at least 2 periods and at least 8 tokens (course_utils.degeneration.loop_at_end)",
    "perplexity": "exp of the mean negative log-prob of the generated tokens under the model's "
    "unmodified distribution (T=1, no truncation), pooled over all generations of the method",
    "distinct_2": "distinct bigrams / all bigrams, pooled over all generations of the method",
    "self_bleu_4": "mean BLEU-4 of each generation against the method's other generations "
    "(NLTK method1 smoothing, as Texygen)",
    "mean_new_tokens": "mean number of generated tokens (end-of-sequence not counted)",
    "eos_pct": "% of generations that stopped at an end-of-sequence token",
}


def load_prompts(n: int, path: Path = PROMPT_FILE) -> list[str]:
    prompts = json.loads(Path(path).read_text(encoding="utf-8"))["prompts"]
    if not 1 <= n <= len(prompts):
        raise ValueError(f"--prompts must be between 1 and {len(prompts)} (the prompts in {path}), got {n}.")
    return prompts[:n]


class _ProgressModel:
    """The model, with a progress bar that advances by one per token generated in a batch.

    generate_batch has no progress hook; it calls ``forward`` once per step with one new token
    per row (``is_real`` marks the rows still running), so counting there is exact.
    """

    def __init__(self, model, bar):
        self._model, self._bar = model, bar

    def __getattr__(self, name):
        return getattr(self._model, name)

    def forward(self, tokens, cache, is_real=None):
        if np.shape(tokens)[1] == 1:
            self._bar.update(int(np.sum(is_real)) if is_real is not None else len(tokens))
        return self._model.forward(tokens, cache, is_real)


def summarize(generations: list[dict]) -> dict:
    """The method-level metrics of a list of per-generation records."""
    token_lists = [g["token_ids"] for g in generations]
    all_logprobs = [lp for g in generations for lp in g["logprobs"]]
    nonempty = [t for t in token_lists if len(t) >= 2]
    return {
        "repetition_pct": repetition_rate(token_lists),
        "perplexity": perplexity(all_logprobs) if all_logprobs else None,
        "distinct_2": distinct_n(nonempty, 2) if nonempty else None,
        "self_bleu_4": self_bleu(token_lists) if len(token_lists) >= 2 else None,
        "mean_new_tokens": float(np.mean([len(t) for t in token_lists])),
        "eos_pct": 100.0 * float(np.mean([g["hit_eos"] for g in generations])),
    }


def replicate(
    model,
    prompts: list[str],
    *,
    max_new_tokens: int,
    seed: int,
    batch_size: int,
    methods: list[str] | None = None,
    show_progress: bool = True,
) -> dict:
    """Generate with every method and measure; returns the results as a JSON-ready dict."""
    methods = list(METHODS) if methods is None else methods
    results = {"methods": {}}
    total = len(methods) * len(prompts) * max_new_tokens
    start = time.perf_counter()
    n_tokens = 0
    with tqdm(total=total, unit="tok", file=sys.stderr, disable=not show_progress) as bar:
        counting_model = _ProgressModel(model, bar)
        for name in methods:
            label, settings = METHODS[name]
            bar.set_description(f"{name:>16}")
            generations = []
            for i, (text, ids, logprobs, hit_eos) in enumerate(
                _decode(model, counting_model, bar, prompts, settings, max_new_tokens, seed, batch_size)
            ):
                loop = loop_at_end(ids)
                generations.append(
                    {
                        "prompt_index": i,
                        "text": text,
                        "token_ids": ids,
                        "logprobs": [round(lp, 4) for lp in logprobs],
                        "hit_eos": hit_eos,
                        "loop": None if loop is None else {"period": loop.period, "span": loop.span},
                    }
                )
                n_tokens += len(ids)
            results["methods"][name] = {
                "label": label,
                "settings": settings,
                "metrics": summarize(generations),
                "generations": generations,
            }
    elapsed = time.perf_counter() - start
    results["timing"] = {
        "seconds": round(elapsed, 1),
        "generated_tokens": n_tokens,
        "tokens_per_second": round(n_tokens / elapsed, 1),
    }
    return results


def _decode(model, counting_model, bar, prompts, settings, max_new_tokens, seed, batch_size):
    """Yield (text, token ids, log-probs, hit_eos) per prompt, end-of-sequence token left out."""
    if "num_beams" in settings:
        # Beam search runs its beams as the batch, one prompt at a time.
        for prompt in prompts:
            result = generate(model, prompt, max_new_tokens=max_new_tokens, **settings)
            bar.update(max_new_tokens)
            hit_eos = result.finish_reason == "eos"
            n = len(result.token_ids) - hit_eos
            yield result.text, result.token_ids[:n], result.token_logprobs[:n], hit_eos
        return
    for lo in range(0, len(prompts), batch_size):
        hi = min(lo + batch_size, len(prompts))
        before = bar.n
        batch = generate_batch(
            counting_model, prompts[lo:hi], max_new_tokens=max_new_tokens,
            seed=[[seed, i] for i in range(lo, hi)], **settings,
        )
        # Rows that stopped early at end-of-sequence still count as done on the bar.
        bar.update((hi - lo) * max_new_tokens - (bar.n - before))
        for g in batch:
            steps = g.steps[:-1] if g.finish_reason == "eos" else g.steps
            yield g.text, [s.token_id for s in steps], [s.logprob for s in steps], g.finish_reason == "eos"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=36, help="how many prompts of data/holtzman_prompts.json to use (from the first)")
    parser.add_argument("--max-new-tokens", type=int, default=200, help="tokens to generate per prompt (the paper: 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every generation's random generator")
    parser.add_argument("--batch-size", type=int, default=12, help="prompts run through the model together")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS), help="decoding methods to run")
    parser.add_argument("--out", type=Path, default=REPO / "data" / "holtzman_replication.json", help="results file (JSON)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    for name in ("max_new_tokens", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    return args


def format_table(results: dict) -> str:
    """The results as a plain-text table, the paper's numbers beside ours where it has them."""
    header = f"{'method':<34}{'rep %':>8}{'ppl':>8}{'dist-2':>8}{'S-BLEU4':>9}{'paper rep %':>13}{'paper ppl':>11}"
    lines = [header, "-" * len(header)]

    def fmt(value, spec):
        return format(value, spec) if value is not None else format("-", f">{spec.split('.')[0]}")

    for name, method in results["methods"].items():
        m, paper = method["metrics"], results["paper"]["table1"].get(name, {})
        lines.append(
            f"{method['label']:<34}{fmt(m['repetition_pct'], '8.1f')}{fmt(m['perplexity'], '8.2f')}"
            f"{fmt(m['distinct_2'], '8.3f')}{fmt(m['self_bleu_4'], '9.3f')}"
            f"{fmt(paper.get('repetition_pct'), '13.2f')}{fmt(paper.get('perplexity'), '11.2f')}"
        )
    human = results["paper"]["table1"]["human"]["perplexity"]
    lines.append(f"{'Human text (paper only)':<34}{'':>8}{'':>8}{'':>8}{'':>9}{'-':>13}{human:>11.2f}")
    return "\n".join(lines)


def to_json(results: dict) -> str:
    """Indented JSON, except that lists of numbers (token ids, log-probs) stay on one line."""
    text = json.dumps(results, indent=1, ensure_ascii=False)
    # json.dumps puts each list item on its own line, and a string never holds a raw newline,
    # so "[" + newline + only numbers is always a list of numbers.
    return re.sub(
        r"\[\n[-0-9.eE,\s]+\]",
        lambda m: "[" + ", ".join(item.strip() for item in m.group(0)[1:-1].split(",")) + "]",
        text,
    ) + "\n"


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    try:
        prompts = load_prompts(args.prompts)
    except ValueError as error:
        raise SystemExit(f"replicate_holtzman.py: error: {error}") from None
    model = load_model()
    results = replicate(
        model,
        prompts,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        batch_size=args.batch_size,
        methods=args.methods,
        show_progress=not args.no_progress,
    )
    out = {
        "schema_version": SCHEMA_VERSION,
        "description": "A small replication of Holtzman et al. (2020), Table 1, with the course's model.",
        "command": "python scripts/replicate_holtzman.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "config": {
            "model": model.name,
            "prompt_file": "data/holtzman_prompts.json",
            "prompts": prompts,
            "max_new_tokens": args.max_new_tokens,
            "seed": args.seed,
            "batch_size": args.batch_size,
        },
        "metric_definitions": METRIC_DEFINITIONS,
        "paper": {"source": PAPER_SOURCE, "model": "GPT-2 Large", "table1": PAPER_TABLE1},
        **results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(to_json(out), encoding="utf-8")
    print(format_table(out))
    print(f"\nwrote {args.out}")
    return out


if __name__ == "__main__":
    main()
