"""Explorers: controls wired to one figure of the real model's numbers, redrawn in place.

One module per job: ``base`` (the :class:`Explorer` machinery and its display), ``model_explorer``
(:class:`ModelExplorer`, the base of every explorer over the course's model, and the standard
dials), then one module per lesson, in lesson order. Everything a notebook uses is re-exported
here, so ``from course_utils.widgets import TemperatureExplorer`` works.

The explorers (each displayed as a cell's last expression): :class:`TopTokensExplorer` (lesson 01),
:class:`SoftmaxExplorer` (02), :class:`TemperatureExplorer` (03), :class:`TruncationExplorer` and
:class:`ChainOrderExplorer` (04), :class:`GenerationStepper` (05), :class:`PenaltyExplorer` (06),
:class:`ConstraintExplorer` (07),
:class:`SamplerZooExplorer` (08), :class:`SpeculationStepper` (09).

Tests and the benchmark drive explorers without a browser: ``explorer.set(temperature=0.5)``
changes controls (one redraw for any number of values), and each explorer exposes its panels
(``explorer.bars.values``, ``.labels``, ``.colors``) and ``explorer.readout_text``. How they are
displayed and why (strict nbval, offline HTML): docs/display-design.md. How to add one:
docs/adding-an-explorer.md.
"""

from course_utils.widgets.base import Explorer, slider_style
from course_utils.widgets.lesson01 import TopTokensExplorer
from course_utils.widgets.lesson02 import SOFTMAX_LOGITS, SOFTMAX_TOKENS, SoftmaxExplorer
from course_utils.widgets.lesson03 import TemperatureExplorer
from course_utils.widgets.lesson04 import ChainOrderExplorer, TruncationExplorer
from course_utils.widgets.lesson05 import GenerationStepper
from course_utils.widgets.lesson06 import FREQUENCY_PENALTIES, REPETITION_PENALTIES, PenaltyExplorer
from course_utils.widgets.lesson07 import ConstraintExplorer
from course_utils.widgets.lesson08 import ZOO_SAMPLERS, SamplerZooExplorer
from course_utils.widgets.lesson09 import SpeculationStepper
from course_utils.widgets.model_explorer import GOOD_PROMPTS, TEMPERATURES, ModelExplorer, dial_controls

__all__ = [
    "Explorer",
    "ModelExplorer",
    "dial_controls",
    "slider_style",
    "TEMPERATURES",
    "GOOD_PROMPTS",
    "TopTokensExplorer",
    "SoftmaxExplorer",
    "SOFTMAX_TOKENS",
    "SOFTMAX_LOGITS",
    "TemperatureExplorer",
    "TruncationExplorer",
    "ChainOrderExplorer",
    "GenerationStepper",
    "PenaltyExplorer",
    "REPETITION_PENALTIES",
    "FREQUENCY_PENALTIES",
    "ConstraintExplorer",
    "SamplerZooExplorer",
    "ZOO_SAMPLERS",
    "SpeculationStepper",
]
