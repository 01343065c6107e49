"""Explorer latency: milliseconds from a control change to a finished render.

For every explorer, with the course's real model, a sweep of values is pushed into its main
control exactly as a slider does (``control.value = v``); the time runs until the new PNG is in
the ``ipywidgets.Image``. The same values are then rendered the naive way -- build a new figure
per event with the same drawing code, then ``figure.savefig`` -- in the same run. Prints the
median and p95 of each, and the speed-up. Target: median <= 40 ms for every explorer.

Also printed, for information (not slider moves): a new prompt (runs the model once) and the
stepper's "next token" (one model step with the KV cache).

    .venv/bin/python benchmarks/bench_explorers.py            # all explorers, 40 changes each
    .venv/bin/python benchmarks/bench_explorers.py --changes 10
    .venv/bin/python benchmarks/bench_explorers.py --only PenaltyExplorer   # one explorer
"""

from __future__ import annotations

import argparse
import io
import itertools
import statistics
import time

import bench_speculative
from course_utils import widgets as w
from course_utils.model import load_model
from course_utils.plots import DPI
from course_utils.widgets.model_explorer import PromptLogits

TARGET_MS = 40.0
#: Lesson 09's stepper opens on this task (the benchmark of speculative decoding times it too).
LESSON_09_TASK = ("Fix the spelling mistakes in this paragraph and write it out in full:\n\n"
                  + bench_speculative.LESSON_09_TYPOS)


def sweeps(model, only=""):
    """(name, explorer, control, values to cycle through) for every explorer's main control,
    or only those whose name contains `only` (the others are not even built)."""
    temperatures = [t for t in w.TEMPERATURES if 0.05 <= t <= 2.5]
    rows = [
        ("TopTokensExplorer", lambda: w.TopTokensExplorer(model), "n_tokens", list(range(3, 21))),
        ("SoftmaxExplorer", lambda: w.SoftmaxExplorer(temperature=1.0), "logit_0", [round(-4 + 0.1 * i, 1) for i in range(81)]),
        ("TemperatureExplorer", lambda: w.TemperatureExplorer(model), "temperature", temperatures),
        ("TruncationExplorer (top-p)", lambda: w.TruncationExplorer(model), "top_p", [round(0.3 + 0.01 * i, 2) for i in range(70)]),
        ("TruncationExplorer (min-p)", lambda: w.TruncationExplorer(model, mode="min_p"), "min_p", [round(0.01 * i, 2) for i in range(1, 60)]),
        ("ChainOrderExplorer", lambda: w.ChainOrderExplorer(model), "temperature", temperatures),
        ("GenerationStepper", lambda: w.GenerationStepper(model, steps=8, top_p=0.9), "temperature", temperatures),
        ("PenaltyExplorer (kept texts)", lambda: warmed_penalty_explorer(model), "repetition_penalty",
         list(w.REPETITION_PENALTIES)),
        ("ConstraintExplorer", lambda: w.ConstraintExplorer(model), "step", list(range(1, 19))),
        ("SamplerZooExplorer (top-nσ)", lambda: w.SamplerZooExplorer(model), "top_n_sigma",
         [round(0.1 * i, 1) for i in range(3, 31)]),
        ("SamplerZooExplorer (top-p, temperature)", lambda: w.SamplerZooExplorer(model, sampler="top_p"),
         "temperature", temperatures),
        ("SpeculationStepper", lambda: w.SpeculationStepper(model, model.chat_prompt(LESSON_09_TASK),
                                                            max_new_tokens=64), "check", list(range(1, 12))),
    ]
    return [(name, build(), control, values) for name, build, control, values in rows if only in name]


def warmed_penalty_explorer(model):
    """A PenaltyExplorer that has generated the text of every stop once: a slider move then only
    redraws (the first visit to a stop generates a text; main() times that separately)."""
    explorer = w.PenaltyExplorer(model, prompt="I like to eat")
    for value in w.REPETITION_PENALTIES:
        explorer.continuation("I like to eat", value, 0.0)
    return explorer


def time_changes(explorer, control, values, changes):
    """Median and p95 ms of `changes` control changes, each until the PNG is in the Image."""
    widget = explorer.controls[control]
    times = []
    cycle = itertools.cycle(values)
    next(cycle)  # start away from the current value so every change is a real change
    for value in itertools.islice(cycle, changes + 3):
        if widget.value == value:
            continue
        start = time.perf_counter()
        widget.value = value
        assert bytes(explorer.image.value) == explorer.png
        times.append(time.perf_counter() - start)
    return summarise(times[3:])


def time_naive(explorer, control, values, changes):
    """The same changes, rebuilding the figure each time and saving it with savefig."""
    times = []
    for value in itertools.islice(itertools.cycle(values), changes + 3):
        state = {**explorer.values, control: value}
        start = time.perf_counter()
        figure = explorer._build_figure()
        explorer._update(state)
        out = io.BytesIO()
        figure.savefig(out, format="png", dpi=DPI)
        times.append(time.perf_counter() - start)
    return summarise(times[3:])


def summarise(seconds):
    ms = sorted(1e3 * s for s in seconds)
    return statistics.median(ms), ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]


def time_once(fn, repeats=5):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=40, help="control changes per explorer (default 40)")
    parser.add_argument("--only", default="", help="time only the explorers whose name contains this text")
    args = parser.parse_args()

    model = load_model()
    print(f"Explorer latency, control change -> PNG in the Image widget ({args.changes} changes each; target median <= {TARGET_MS:.0f} ms)")
    header = f"{'explorer':<28} {'control':<12} {'in place: median':>17} {'p95':>7}   {'naive rebuild: median':>22} {'p95':>7}  {'speed-up':>8}"
    print(header)
    print("-" * len(header))
    worst = 0.0
    for name, explorer, control, values in sweeps(model, args.only):
        median, p95 = time_changes(explorer, control, values, args.changes)
        # Naive runs last: it rebinds the explorer's panels to each throw-away figure.
        naive_median, naive_p95 = time_naive(explorer, control, values, args.changes)
        worst = max(worst, median)
        print(
            f"{name:<28} {control:<12} {median:>14.1f} ms {p95:>4.1f} ms   {naive_median:>19.1f} ms {naive_p95:>4.1f} ms  {naive_median / median:>7.1f}x"
        )
    print(f"slowest explorer median: {worst:.1f} ms -> {'meets' if worst <= TARGET_MS else 'MISSES'} the {TARGET_MS:.0f} ms target")

    print()
    print("For information (these run the model, not just the drawing):")
    if not args.only:
        time_model_steps(model)
    if args.only in "PenaltyExplorer":
        fresh = iter(w.REPETITION_PENALTIES[1:])
        penalty = w.PenaltyExplorer(model, prompt="I like to eat")
        print(f"  PenaltyExplorer, a stop not visited yet (40 greedy tokens + render): "
              f"{time_once(lambda: penalty.set(repetition_penalty=next(fresh)), 5):.1f} ms median")


def time_model_steps(model):
    prompts = itertools.cycle(w.GOOD_PROMPTS[1:])
    top = w.TopTokensExplorer(model)

    def new_prompt():
        top.logits = PromptLogits(model)  # a cache that has seen no prompt: the model runs
        top.controls["prompt"].value = next(prompts)

    print(f"  TopTokensExplorer, a new prompt (model forward + render): {time_once(new_prompt):.1f} ms median")
    stepper = w.GenerationStepper(model, top_p=0.9)
    print(f"  GenerationStepper, 'next token' (one cached model step + render): {time_once(stepper.step, 10):.1f} ms median")


if __name__ == "__main__":
    main()
