"""Figures for the course, by job: ``rendering`` (palette, colour roles, pyplot-free figures, PNG
encoding with blitting), ``panels`` (live panels the explorers update in place) and ``figures``
(static lesson figures, in lesson order; lesson 09's in ``speculative``). Everything is re-exported here, so
``from course_utils.plots import BarPanel, replication_figure`` works.

Nothing in this package calls the model: it draws numbers it is given.
"""

from course_utils.plots.figures import (
    StaticFigure,
    chain_stages_figure,
    beam_walk_figure,
    draw_margins_figure,
    logit_histogram_figure,
    loop_probability_figure,
    replication_figure,
    sampling_convergence_figure,
    kept_over_temperature_figure,
    surprise_figure,
    high_temperature_figure,
)
from course_utils.plots.speculative import (
    first_token_histogram_figure,
    forward_time_figure,
    rule_figure,
    speedup_figure,
)
from course_utils.plots.panels import BarPanel, CurvePanel, TokenTextPanel
from course_utils.plots.rendering import (
    DPI,
    OKABE_ITO,
    ROLE,
    drawn_marks,
    figure_to_png,
    smallest_text_px,
    mark_dynamic,
    new_figure,
    title_block,
    token_label,
    visible,
)

__all__ = [
    "OKABE_ITO",
    "ROLE",
    "DPI",
    "visible",
    "token_label",
    "new_figure",
    "figure_to_png",
    "smallest_text_px",
    "drawn_marks",
    "mark_dynamic",
    "title_block",
    "BarPanel",
    "CurvePanel",
    "TokenTextPanel",
    "StaticFigure",
    "logit_histogram_figure",
    "sampling_convergence_figure",
    "chain_stages_figure",
    "loop_probability_figure",
    "kept_over_temperature_figure",
    "surprise_figure",
    "high_temperature_figure",
    "replication_figure",
    "beam_walk_figure",
    "draw_margins_figure",
    "forward_time_figure",
    "rule_figure",
    "first_token_histogram_figure",
    "speedup_figure",
]
