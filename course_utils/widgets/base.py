"""The explorer machinery: named controls wired to one figure, redrawn in place, displayed three ways.

An :class:`Explorer` draws a pure-Agg figure (``course_utils.plots``) into an ``ipywidgets.Image``
as PNG bytes, with its controls above and a one-line readout below. Displayed as a cell's last
expression it gives the live widget, a PNG of its current state (for places without a kernel)
and a stable one-line text, which is what strict nbval compares. Why this design, and what was
measured to choose it: docs/display-design.md.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
from typing import Any, Iterator, Mapping, Sequence

import ipywidgets as widgets
from matplotlib.figure import Figure

from course_utils.plots import drawn_marks, figure_to_png, smallest_text_px

__all__ = ["Explorer", "slider_style", "TRUNCATION_DIALS"]

_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def slider_style() -> dict[str, str]:
    """The style every control uses: descriptions are never cut off."""
    return {"description_width": "initial"}


class Explorer:
    """Base class: named controls, one figure, a readout line; redraws on every control change.

    A subclass builds its figure and controls, then calls ``super().__init__(controls, figure)``
    last, and implements :meth:`_update`, which receives the current control values, updates
    the figure's artists in place and returns the readout as plain text. ``before`` / ``after``
    are extra widgets (a dropdown, buttons) placed around the controls; they are not values.
    ``main`` names the slider a learner moves first (default: the first control); override
    :meth:`_main_control` when it depends on the state (truncation: the active mode's slider).
    Subclasses build their figure in ``_build_figure()``, so the benchmark can time the naive
    approach (a new figure per event) with exactly the same drawing code.

    Public API (for notebooks and tests):
        ``explorer``             display it as a cell's last expression
        ``explorer.set(**values)``  change several controls, redraw once; returns the explorer
        ``explorer.values``      dict of current control values
        ``explorer.controls``    dict name -> ipywidgets control (keyboard-operable)
        ``explorer.png``         PNG bytes of the current picture
        ``explorer.readout_text``   the current readout line, plain text
        ``explorer.widget``      the ipywidgets ``VBox`` (controls, image, readout)

    Hooks for the browser tests (the contract in tests/browser_support.py): the root ``VBox``
    has the DOM class ``dd-explorer``, the image ``dd-figure``, the main slider
    ``dd-main-control``, and every PNG carries a ``dd-main`` text chunk: the main slider's value
    as it reads on screen, so a test can prove the pixels were drawn for that value.
    """

    def __init__(
        self,
        controls: Mapping[str, widgets.ValueWidget],
        figure: Figure,
        *,
        before: Sequence[widgets.Widget] = (),
        after: Sequence[widgets.Widget] = (),
        main: str | None = None,
    ):
        self.controls: dict[str, widgets.ValueWidget] = dict(controls)
        self.figure = figure
        self._main = main if main is not None else next(iter(self.controls))
        if not isinstance(self.controls.get(self._main), _SLIDERS):
            raise ValueError(
                f"main={self._main!r} must name a slider control (the keyboard moves sliders in "
                f"JupyterLab); the controls are: {', '.join(self.controls)}"
            )
        width, height = (int(round(v)) for v in figure.canvas.get_width_height(physical=True))
        self.image = widgets.Image(
            format="png", width=width, layout=widgets.Layout(max_width="100%", height="auto")
        )
        self.readout = widgets.HTML(layout=widgets.Layout(min_height="1.6em"))
        self._holding = 0
        self._dirty = False
        self._png = b""
        self._readout_text = ""
        for control in self.controls.values():
            control.observe(self._on_control_change, names="value")
        control_box = widgets.HBox(
            [*before, *self.controls.values(), *after],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )
        self.widget = widgets.VBox([control_box, self.image, self.readout])
        self.widget.add_class("dd-explorer")
        self.image.add_class("dd-figure")
        self._marked_main: widgets.ValueWidget | None = None
        self.refresh()

    # -- what subclasses implement -------------------------------------------------------
    def _update(self, values: dict[str, Any]) -> str:
        """Update the figure's artists for ``values``; return the readout as plain text."""
        raise NotImplementedError

    # -- the machinery ------------------------------------------------------------------
    @property
    def values(self) -> dict[str, Any]:
        """Current value of every control, by name."""
        return {name: control.value for name, control in self.controls.items()}

    @property
    def png(self) -> bytes:
        """PNG bytes of the picture currently shown."""
        return self._png

    @property
    def readout_text(self) -> str:
        """The readout line currently shown, as plain text."""
        return self._readout_text

    @contextlib.contextmanager
    def hold_updates(self) -> Iterator[None]:
        """Change several controls with a single redraw at the end."""
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1
            if self._holding == 0 and self._dirty:
                self.refresh()

    def set(self, **values: Any) -> "Explorer":
        """Set controls by name, e.g. ``explorer.set(temperature=0.5)``, then redraw once.

        Raises a ValueError naming the control if the name is unknown or the value is not one
        the control can take (sliders do not silently clamp here).
        """
        unknown = sorted(set(values) - set(self.controls))
        if unknown:
            raise ValueError(
                f"{type(self).__name__} has no control named {', '.join(map(repr, unknown))}; "
                f"its controls are: {', '.join(self.controls)}"
            )
        for name, value in values.items():
            _check_control_value(name, self.controls[name], value)
        with self.hold_updates():
            for name, value in values.items():
                self.controls[name].value = value
            self._dirty = True
        return self

    def refresh(self) -> None:
        """Redraw the figure for the current control values and push it to the image widget."""
        if self._holding:
            self._dirty = True
            return
        self._dirty = False
        self._readout_text = self._update(self.values)
        main = self.controls[self._main_control()]
        if main is not self._marked_main:
            if self._marked_main is not None:
                self._marked_main.remove_class("dd-main-control")
            main.add_class("dd-main-control")
            self._marked_main = main
        self._png = figure_to_png(self.figure, text={
            "dd-main": _as_shown(main),
            # What the browser test scales by the picture's size on screen (docs/display-design.md).
            "dd-min-text-px": f"{smallest_text_px(self.figure):.2f}",
            # What the browser test compares across a slider move: did more than the words change?
            "dd-marks": json.dumps(drawn_marks(self.figure), separators=(",", ":")),
            **self._boundary_chunk(),
        })
        self.image.value = self._png
        # pre-line: a readout that puts each part on its own line wraps between parts, never mid-phrase.
        self.readout.value = (
            f"<span style='font-family: monospace; white-space: pre-line'>{html.escape(self._readout_text)}</span>"
        )

    def _on_control_change(self, change: dict) -> None:
        self.refresh()

    def _main_control(self) -> str:
        """The name of the slider a learner moves first (marked for the browser tests)."""
        return self._main

    def _boundary_artists(self) -> Sequence:
        """The artists that draw where the main truncation slider cuts (a line at k, p or min_p)."""
        return ()

    def _boundary_chunk(self) -> dict[str, str]:
        """For a truncation slider, whether the cut it moves is drawn inside its axes."""
        if self._main_control() not in TRUNCATION_DIALS:
            return {}
        return {"dd-boundary": "shown" if any(map(_inside_its_axes, self._boundary_artists())) else "missing"}

    # -- display ----------------------------------------------------------------------
    def __repr__(self) -> str:
        arguments = ", ".join(f"{name}={_short_repr(value)}" for name, value in self.values.items())
        return f"{type(self).__name__}({arguments})"

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Live widget + static PNG + stable text; see docs/display-design.md for why."""
        data = {
            "text/plain": repr(self),
            "image/png": base64.b64encode(self._png).decode("ascii"),
        }
        view = self.widget._repr_mimebundle_().get(_WIDGET_VIEW)
        if view is not None:
            data[_WIDGET_VIEW] = view
        width = self.image.width
        metadata = {"image/png": {"width": int(width)}} if width else {}
        return data, metadata

    def close(self) -> None:
        """Close every widget this explorer owns (frees the kernel-side widget models)."""
        for control in self.controls.values():
            control.close()
        self.image.close()
        self.readout.close()
        self.widget.close()


_SLIDERS = (widgets.IntSlider, widgets.FloatSlider, widgets.SelectionSlider)

#: Sliders that cut the distribution: an explorer whose main slider is one of them draws the cut.
TRUNCATION_DIALS = frozenset(
    {"top_k", "top_p", "min_p", "top_n_sigma", "typical_p", "eta_cutoff", "epsilon_cutoff", "xtc_threshold"}
)


def _inside_its_axes(artist) -> bool:
    """Visible, and at least partly inside the view of its axes (not clipped away)."""
    if not artist.get_visible() or artist.axes is None:
        return False
    return bool(artist.get_window_extent().overlaps(artist.axes.bbox))


def _as_shown(control: widgets.ValueWidget) -> str:
    """A control's value as its readout shows it on screen (e.g. '0.70' for a temperature)."""
    if isinstance(control, widgets.SelectionSlider):
        # Not `control.label`: ipywidgets leaves it '' when the constructor's value is the first
        # option; the index is always right.
        option = control.options[control.index]
        return str(option[0] if isinstance(option, tuple) else option)
    if isinstance(control, (widgets.FloatSlider, widgets.IntSlider)):
        return format(control.value, control.readout_format)
    return str(control.value)


def _short_repr(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value)


def _check_control_value(name: str, control: widgets.ValueWidget, value: Any) -> None:
    options = getattr(control, "options", None)
    if options is not None:
        allowed = [option[1] if isinstance(option, tuple) else option for option in options]
        if value not in allowed:
            shown = ", ".join(_short_repr(a) for a in allowed[:40])
            raise ValueError(f"{name}={value!r} is not one of the choices: {shown}")
        return
    low, high = getattr(control, "min", None), getattr(control, "max", None)
    if low is not None and high is not None and not (low <= value <= high):
        raise ValueError(f"{name}={value!r} is outside the slider's range [{low}, {high}]")
