"""The same course on every machine: the course's reproducibility tools, in one small module.

Two machines compute a model's logits with different float32 rounding (CPU, BLAS kernel, thread
count), so their logits differ in the 5th-6th significant digit: measured, up to 3e-5 logits.
Anything a lesson prints that a comparison of model numbers decides (a drawn token, how many
tokens top-p keeps, which draw was the closest) is the same on every machine only if that
comparison was decided by more than that. Two tools hold the course to it:

* **The margin policy.** Every such decision knows its *margin*: how far, in logits, the model's
  numbers would have to move to decide it the other way. With the environment variable
  ``COURSE_MIN_MARGIN=<logits>`` set (``make test`` sets it for the lessons), a decision with a
  smaller margin raises `NearTieError` instead of printing what another machine would not:
  `check_margin`. `required_margin` sets the requirement for a ``with`` block.
* **Machine noise.** ``COURSE_MACHINE_NOISE=<seed>[:<scale>]`` makes ``model.load_model`` return a
  model whose every matrix product carries a deterministic relative error (`MachineNoise`), so one
  machine can re-run the lessons as other machines would compute them (``make test-noise``).
  Noise a lesson adds on purpose (``model.with_machine_noise``) composes with it, so no cell
  escapes those runs.

`weakest_draw` and `FlippedDraw` play "another machine" honestly: the machine that rounds the
closest draw of a generation the other way, a flip that happens on every real machine alike.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence

import numpy as np

from course_utils import checks

# --------------------------------------------------------------------------------------------
# The margin policy
# --------------------------------------------------------------------------------------------

# With this environment variable set to a number of logits (`make test` sets it for the lessons),
# a decision with a smaller margin raises NearTieError: see `check_margin`.
MARGIN_VARIABLE = "COURSE_MIN_MARGIN"


class NearTieError(RuntimeError):
    """A decision was closer than COURSE_MIN_MARGIN: another machine may decide it the other way."""


def required() -> float:
    """The margin, in logits, that `COURSE_MIN_MARGIN` asks every decision for (0: no check)."""
    return float(os.environ.get(MARGIN_VARIABLE) or 0)


def check_margin(margin: float, what: str, fix: str = "Choose another seed or prompt") -> float:
    """`margin` (in logits) if it is at least the required margin; else raise `NearTieError`.

    `what` names the decision for the message ("Token 42 was drawn"); `fix` says what to change.
    Another machine's logits differ in their last digits (about 3e-5): a decision closer than
    that could go the other way there, and so would everything printed from it.
    """
    needed = required()
    if margin < needed:
        raise NearTieError(
            f"{what} by a margin of {margin:.2g} logits, below {MARGIN_VARIABLE}={needed:g}: another "
            f"machine's last-digit differences could decide it the other way. {fix} for a result that "
            "every machine reproduces."
        )
    return margin


@contextlib.contextmanager
def required_margin(logits: float) -> Iterator[None]:
    """Inside the ``with`` block, decisions need a margin of at least `logits` (0: no check at all).

    It sets ``COURSE_MIN_MARGIN`` for the block and restores it afterwards (a test's tool: a lesson
    never switches the check off).
    """
    logits = checks.real_number(logits, "logits", minimum=0, hint="It is a margin in logits; 0 turns the check off.")
    before = os.environ.get(MARGIN_VARIABLE)
    os.environ[MARGIN_VARIABLE] = repr(float(logits))
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(MARGIN_VARIABLE, None)
        else:
            os.environ[MARGIN_VARIABLE] = before


def side_of(value: float, bound: float, what: str) -> str:
    """"under" or "over": which side of `bound` a quantity in logits (such as a margin) lies on,
    checked like a draw, since another machine's value differs in its last digits too."""
    check_margin(abs(value - bound), f"{what} ({value:.2g}) was compared with {bound:g}",
                 fix="Compare with another bound")
    return "under" if value < bound else "over"


def round_count(count: int, digits: int | None) -> int:
    """`count` rounded to `digits` significant digits (None: as it is): 48,996 -> 49,000 for 2."""
    if digits is None or count == 0:
        return int(count)
    digits = checks.whole_number(digits, "digits", minimum=1)
    return int(round(count, digits - 1 - int(np.floor(np.log10(abs(count))))))


def same_count(fewest: int, most: int, digits: int | None, what: str) -> int:
    """The count, when every machine prints the same one: `fewest` and `most` are what the count
    becomes under the worst changes of the model's numbers by the required margin; both must round
    to the same `digits` significant digits, or `NearTieError` (only when a margin is required)."""
    shown = round_count(most, digits)
    if required() > 0 and round_count(fewest, digits) != shown:
        raise NearTieError(
            f"{what}: between {fewest:,} and {most:,} when the model's numbers move by {MARGIN_VARIABLE}="
            f"{required():g} logits, so another machine could print another count"
            f"{'' if digits is None else f' even at {digits} significant digits'}. Print it with fewer "
            "significant digits (digits=...), or count against another bound."
        )
    return shown


def count_in(values, *, low: float = -np.inf, high: float = np.inf, per_logit: float = 1.0,
             digits: int | None = None, what: str = "The count") -> int:
    """How many `values` lie in [low, high), as every machine counts them.

    `values` are model numbers: logits (`per_logit=1`), or log-probabilities (`per_logit=2`: moving
    the logits by d moves a log-probability by up to 2d). The count is checked against the required
    margin the way a draw is (`same_count`): with `digits`, only its rounded value must hold.
    """
    values = np.asarray(values, dtype=float)
    slack = required() * per_logit
    fewest = np.count_nonzero((values >= low + slack) & (values < high - slack))
    most = np.count_nonzero((values >= low - slack) & (values < high + slack))
    exact = np.count_nonzero((values >= low) & (values < high))
    if required() == 0:
        return round_count(exact, digits)
    return same_count(int(fewest), int(most), digits, what)


# --------------------------------------------------------------------------------------------
# Another machine
# --------------------------------------------------------------------------------------------

# The largest difference measured between two machines' logits (two OpenBLAS kernels of one numpy
# wheel, SmolLM2's logits, the prompts of lessons 01-05): what the noise below imitates.
MEASURED_MACHINE_DIFFERENCE = 3e-5
# bfloat16 keeps 8 significant bits, so rounding to it moves a number by up to 2**-8 of itself
# (half of its machine epsilon, torch.finfo(torch.bfloat16).eps = 2**-7).
BFLOAT16_RELATIVE_ROUNDING = 2.0**-8

NOISE_VARIABLE = "COURSE_MACHINE_NOISE"
# Relative error per matrix-product output. 1e-6 moves SmolLM2's logits by 4e-5 to 8e-5 at most,
# in nearly every entry: the measured cross-machine difference (3e-5) with some room to spare.
# `COURSE_MACHINE_NOISE=<seed>:3e-6` triples it (1e-4 to 2.5e-4) for a harder audit.
MACHINE_NOISE_SCALE = 1e-6


class MachineNoise:
    """Another machine's rounding: a relative error in [-scale, scale) on every product output.

    The error is a hash of the output's own float32 bits and the seed, so it is deterministic
    per seed and independent of call order, batching or the KV cache, like a real kernel's
    rounding of the same numbers.
    """

    def __init__(self, seed: int, scale: float = MACHINE_NOISE_SCALE):
        seed = checks.whole_number(seed, "seed", minimum=0, hint="It picks the machine-noise pattern.")
        if not 0 < scale < 1e-2:
            raise ValueError(f"The machine-noise scale must be a relative error in (0, 0.01), got {scale!r}.")
        self.seed = seed
        self.scale = np.float32(scale)
        self._key = np.uint32((seed * 0x9E3779B1 + 0x7F4A7C15) % 2**32)

    @classmethod
    def from_environment(cls) -> MachineNoise | None:
        """The noise `COURSE_MACHINE_NOISE=<seed>[:<scale>]` asks for, or None when it is unset."""
        value = os.environ.get(NOISE_VARIABLE, "").strip()
        if not value:
            return None
        seed, _, scale = value.partition(":")
        try:
            return cls(int(seed), float(scale) if scale else MACHINE_NOISE_SCALE)
        except ValueError as err:
            raise ValueError(f"{NOISE_VARIABLE}={value!r} is not '<seed>' or '<seed>:<scale>': {err}") from None

    def __call__(self, y: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):  # uint32 arithmetic wraps around on purpose
            h = np.ascontiguousarray(y, dtype=np.float32).view(np.uint32) ^ self._key
            h = (h ^ (h >> np.uint32(16))) * np.uint32(0x7FEB352D)
            h = (h ^ (h >> np.uint32(15))) * np.uint32(0x846CA68B)
            h ^= h >> np.uint32(16)
        unit = h.astype(np.float32) * np.float32(2.0**-31) - np.float32(1.0)  # in [-1, 1)
        return y * (np.float32(1.0) + self.scale * unit)

    def __eq__(self, other) -> bool:
        return isinstance(other, MachineNoise) and (self.seed, self.scale) == (other.seed, other.scale)

    def __hash__(self) -> int:
        return hash((self.seed, float(self.scale)))

    def __repr__(self) -> str:
        return f"MachineNoise(seed={self.seed}, scale={float(self.scale):g})"


def weakest_draw(generation) -> int:
    """The index of the step of `generation` (a `generation.Generation`) drawn by the smallest margin.

    Which draw was the closest is itself a comparison of model numbers: the two smallest margins
    must differ by the required margin, or `NearTieError` says that another machine might name
    another step.
    """
    margins = np.array([step.margin for step in generation.steps], dtype=float)
    if margins.size < 1:
        raise ValueError("The generation has no steps, so it has no closest draw; generate at least one token.")
    order = np.argsort(margins, kind="stable")
    if margins.size > 1:
        check_margin(float(margins[order[1]] - margins[order[0]]),
                     f"The closest draw (step {order[0]}) was closer than the next closest (step {order[1]})")
    return int(order[0])


class FlippedDraw:
    """A machine that computes exactly as `model` does, except at one draw of `generation`: there
    the chosen token's logit comes out lower by four times that draw's margin.

    Two margins are what it takes to make the runner-up win; four make the runner-up win by the
    same margin the original winner had, so this machine's own draw is as clear as the original
    and its text is the same on every real machine. Everything before that step agrees by
    construction. Use it with `generation.generate` (one prompt; it serves `next_token_logits`).
    """

    def __init__(self, model, generation, step: int):
        step = checks.whole_number(step, "step", minimum=0, maximum=len(generation.steps) - 1,
                                   hint="It is the index of a step of the generation, such as weakest_draw(generation).")
        self._model = model
        self.step = step
        self.token = generation.token_ids[step]
        self.change = 4 * generation.steps[step].margin
        if not np.isfinite(self.change):
            raise ValueError(f"Step {step} had only one possible token (an infinite margin): no machine draws it otherwise.")
        self._context = [*generation.prompt_ids, *generation.token_ids[:step]]

    def next_token_logits(self, ids) -> np.ndarray:
        logits = self._model.next_token_logits(ids)
        if list(ids) == self._context:
            logits[self.token] -= np.float32(self.change)
        return logits

    def __getattr__(self, name):
        return getattr(self._model, name)

    def __repr__(self) -> str:
        return f"FlippedDraw(step={self.step}, change={self.change:.2g})"


def agreeing_prefix(first: Sequence[int], second: Sequence[int]) -> int:
    """How many tokens two texts' ids agree on from the start."""
    return next((i for i, (a, b) in enumerate(zip(first, second)) if a != b), min(len(first), len(second)))
