"""The "other machine" harness catches what a machine of another kind would catch.

`make test-noise` (and CI's noise stages) re-run every lesson with COURSE_MACHINE_NOISE, as another
machine would compute it. A cell that plays another machine on purpose, with its own
`model.with_machine_noise(...)`, must be varied by those runs too: its noise composes with the
environment's, so what it prints depends on the machine, and the harness has to see that. Here a
planted cell of exactly the kind lesson 07 once had (a demo that relies on one noise pattern
flipping a draw) passes the plain run on the machine that wrote its outputs and fails the noise
run; lesson 07's demo by construction (`reproducibility.FlippedDraw`) passes both.
"""

import os
import subprocess
import sys

import nbformat
import pytest

from course_utils.reproducibility import MARGIN_VARIABLE, NOISE_VARIABLE

pytestmark = pytest.mark.slow

SETUP = """\
from course_utils.generation import generate
from course_utils.model import MachineNoise, load_model
from course_utils.reproducibility import FlippedDraw, agreeing_prefix, required_margin, weakest_draw

model = load_model()
owl = "Deep in the forest, an owl"
first = generate(model, owl, max_new_tokens=14, temperature=1.0, top_k=0, seed=33)"""

# Lesson 07's first "other machine" demo, in small: whether a relative error of 1e-4 flips the owl's
# one close draw (margin under 0.001 logits at token 13) depends on the noise pattern, so what this
# prints is one machine's luck. Six patterns make a different machine print something else here
# with near certainty.
PLANTED = """\
with required_margin(0):
    for seed in range(1, 7):
        elsewhere = generate(model.with_machine_noise(MachineNoise(seed, 1e-4)), owl,
                             max_new_tokens=14, temperature=1.0, top_k=0, seed=33)
        print(f"noise pattern {seed}: the texts agree for {agreeing_prefix(first.token_ids, elsewhere.token_ids)} tokens")"""

BY_CONSTRUCTION = """\
closest = weakest_draw(first)
elsewhere = generate(FlippedDraw(model, first, closest), owl, max_new_tokens=14, temperature=1.0, top_k=0, seed=33)
print(f"the texts agree for {agreeing_prefix(first.token_ids, elsewhere.token_ids)} tokens, then:")
print(repr(model.decode(first.token_ids[closest:])), "/", repr(model.decode(elsewhere.token_ids[closest:])))"""


def executed_notebook(path, *cells: str) -> None:
    """Write `cells` as a notebook at `path` with the outputs this machine computes, as a lesson
    author commits them (plain: no machine noise, the lessons' margin requirement on)."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)
    subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--inplace", str(path)],
        env=lesson_environment(noise=None), check=True, capture_output=True, timeout=600,
    )


def lesson_environment(noise: str | None) -> dict:
    """`make test`'s environment for a lesson's kernel; with `noise`, `make test-noise`'s."""
    environment = {k: v for k, v in os.environ.items() if k != NOISE_VARIABLE}
    environment[MARGIN_VARIABLE] = "3e-4"
    if noise:
        environment[NOISE_VARIABLE] = noise
    return environment


def strict_nbval(path, noise: str | None) -> subprocess.CompletedProcess:
    """`make test`'s strict nbval run of one notebook; with `noise`, `make test-noise`'s."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--nbval", "--nbval-current-env", str(path)],
        env=lesson_environment(noise), cwd=path.parent, capture_output=True, text=True, timeout=600,
    )


def failing_cells(result: subprocess.CompletedProcess) -> set[int]:
    """The cell numbers nbval reports as failed ("...::Cell 2 - ...")."""
    return {int(line.split("::Cell ")[1].split()[0]) for line in result.stdout.splitlines()
            if line.startswith("FAILED") and "::Cell " in line}


def test_the_noise_runs_catch_a_demo_that_relies_on_one_noise_pattern_and_pass_one_built_to_flip(tmp_path):
    notebook = tmp_path / "other_machine.ipynb"
    executed_notebook(notebook, SETUP, BY_CONSTRUCTION, PLANTED)
    plain = strict_nbval(notebook, None)
    assert plain.returncode == 0, plain.stdout[-3000:]
    # make test-noise's three machines: the demo built to flip passes on each, the planted one fails
    # on at least one (it printed what this machine's noise pattern happened to do).
    failed = [failing_cells(strict_nbval(notebook, f"{seed}:3e-6")) for seed in (1, 2, 3)]
    assert all(cells <= {2} for cells in failed), failed
    assert any(2 in cells for cells in failed), "the noise runs did not vary a cell that plays another machine"
    output = nbformat.read(notebook, as_version=4).cells[1].outputs[0]["text"]
    assert output.startswith("the texts agree for 12 tokens, then:")
