"""Rendering: the palette and the role of each colour, pyplot-free figures, and fast PNG encoding.

Everything here draws numbers it is given; it never calls the model. The explorers in
``course_utils.widgets`` compute the numbers (through ``course_utils.sampling``) and hand them
to these panels.

Why pure Agg, no pyplot: a ``matplotlib.figure.Figure`` attached to a ``FigureCanvasAgg`` never
auto-displays in a notebook, needs no backend (no ipympl, no ``%matplotlib`` magic), and renders
to an RGBA buffer that :func:`figure_to_png` encodes quickly. The reason this matters for strict
nbval is in docs/display-design.md.

Speed rules every panel follows (a slider redraw must stay well under 40 ms):
  * artists are created once and then changed with ``set_height`` / ``set_width`` /
    ``set_data`` / ``set_text`` / ``set_color``, never re-plotted;
  * axis limits are fixed by the caller (no autoscaling per redraw), tick labels are few;
  * artists that change per redraw are marked with :func:`mark_dynamic`; everything else (axes,
    ticks, labels: most of the text, and text is what Agg draws slowest) is drawn once into a
    cached background, and each redraw blits the dynamic artists over it. The background is
    redrawn only when its signature (limits, tick labels, static texts) changes, and the tests
    check the blitted picture is pixel-identical to a full draw;
  * PNG encoding uses Pillow at ``compress_level=1`` straight from ``canvas.buffer_rgba()``.

Colours are the Okabe-Ito palette (safe for the common forms of colour blindness), and every
role a colour plays (kept token, removed token, chosen token, ...) has one name in
:data:`ROLE`, so all lessons speak the same visual language.
"""

from __future__ import annotations

import io
import unicodedata
import weakref

import numpy as np

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.spines import Spine
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from course_utils.tokenizer import visible

#: The Okabe-Ito colour-blind-safe palette (Okabe & Ito, 2008), as hex strings.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

#: What each colour means in every lesson. ``removed`` is a light grey: greyed-out tokens read
#: as "gone" for every viewer, whatever their colour vision.
ROLE = {
    "bar": OKABE_ITO["blue"],  # a token's probability (or logit), nothing special
    "kept": OKABE_ITO["blue"],  # survives truncation
    "removed": "#C8C8C8",  # cut by truncation
    "chosen": OKABE_ITO["vermillion"],  # the token that was sampled / is highlighted ("red" in the text)
    "seen": OKABE_ITO["orange"],  # a token already in the text (lesson 06's penalties act on these)
    "curve": OKABE_ITO["orange"],  # a quantity plotted against a dial
    "second_curve": OKABE_ITO["bluish_green"],
    "threshold": OKABE_ITO["black"],  # a p line, a k line, a current-value marker
    "text": "#222222",
}

#: Screen dots per inch for explorer figures: sharp enough to read 9-pt token labels, small
#: enough that drawing and PNG-encoding stay fast.
DPI = 80

def token_label(text: str, max_chars: int = 14) -> str:
    """A plot label for a token: whitespace made visible, long tokens shortened with '…'.

    An empty token shows as ∅ so that its bar still has a label; a carriage return as \\r, since
    DejaVu Sans (the plots' font) has no ␍ glyph. A token of punctuation only ("," or ".") is
    quoted, ',' : alone it is a speck a few pixels wide, easy to miss next to its bar.
    """
    if max_chars < 2:
        raise ValueError(f"max_chars must be at least 2, got {max_chars}")
    label = visible(text).replace("␍", "\\r")
    if label == "":
        return "∅"
    if len(label) > max_chars:
        return label[: max_chars - 1] + "…"
    if len(label) <= 2 and all(unicodedata.category(c).startswith("P") for c in label):
        return f"'{label}'"
    return label


def smallest_text_px(figure: Figure) -> float:
    """The size, in the figure's own pixels, of its smallest visible text (labels, ticks, titles):
    multiplied by how much a browser scales the picture, the size a reader sees."""
    from matplotlib.text import Text

    sizes = [t.get_fontsize() for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return min(sizes, default=0.0) * figure.dpi / 72


def drawn_marks(figure: Figure) -> list:
    """What the figure draws apart from its text, in whole pixels: per axes, every visible patch
    (its colour and corners), line (its colour and points) and collection (colours and offsets).

    Two pictures whose marks agree differ at most in their words and numbers; the browser tests
    compare the marks before and after a slider move to tell a picture that changed from one
    whose subtitle alone did (docs/adding-an-explorer.md, "The first move shows").
    """
    from matplotlib.collections import Collection
    from matplotlib.colors import to_hex
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    marks = []
    for ax in figure.axes:
        for artist in ax.get_children():
            if not artist.get_visible() or artist is ax.patch:
                continue
            if isinstance(artist, Line2D):
                points = artist.get_transform().transform(artist.get_xydata())
                points = points[np.isfinite(points).all(axis=1)]
                marks.append(["line", to_hex(artist.get_color()), np.rint(points).astype(int).ravel().tolist()])
            elif isinstance(artist, Patch) and not isinstance(artist, Spine):
                box = artist.get_window_extent()
                marks.append(["patch", to_hex(artist.get_facecolor(), keep_alpha=True),
                              [round(v) for v in (box.x0, box.y0, box.x1, box.y1)]])
            elif isinstance(artist, Collection):
                offsets = artist.get_offset_transform().transform(artist.get_offsets())
                colours = [to_hex(c, keep_alpha=True) for c in artist.get_facecolor()]
                marks.append(["collection", ",".join(colours), np.rint(offsets).astype(int).ravel().tolist()])
    return marks


def new_figure(width_px: int, height_px: int, dpi: int = DPI) -> Figure:
    """A pyplot-free figure with an Agg canvas: it never auto-displays and needs no backend."""
    figure = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def mark_dynamic(*artists) -> None:
    """Declare artists that change on every redraw (bars, value labels, markers, titles).

    :func:`figure_to_png` then draws everything else once into a cached background and, on
    each redraw, restores that background and draws only these artists on top (blitting).
    Dynamic artists are drawn in z-order after the static ones, so they must not need to sit
    underneath a static artist.
    """
    for artist in artists:
        figure = artist.get_figure(root=True)
        if figure is None:
            raise ValueError(f"{artist!r} must be added to a figure before it is marked dynamic")
        artist.set_animated(True)
        _DYNAMIC.setdefault(figure, []).append(artist)


def title_block(figure: Figure, top: float = 0.97):
    """A bold title (what to notice) and a subtitle (the numbers) at the top left of a figure."""
    title = figure.text(0.015, top, "", ha="left", va="top", fontsize=12, fontweight="bold", color=ROLE["text"])
    subtitle = figure.text(0.015, top - 0.065, "", ha="left", va="top", fontsize=10, color="#444444")
    mark_dynamic(title, subtitle)
    return title, subtitle


_DYNAMIC: "weakref.WeakKeyDictionary[Figure, list]" = weakref.WeakKeyDictionary()
_BACKGROUNDS: "weakref.WeakKeyDictionary[Figure, tuple]" = weakref.WeakKeyDictionary()


def _static_signature(figure: Figure) -> tuple:
    """Everything that shapes the static layer: limits, tick labels, static texts and patches.

    Cheap to compute (no drawing); when it changes, the cached background is redrawn.
    """
    parts: list = [tuple(figure.bbox.bounds)]
    for text in figure.texts:
        if not text.get_animated():
            parts.append((text.get_text(), text.get_position(), text.get_visible()))
    for ax in figure.axes:
        parts.append((ax.get_position().bounds, ax.get_xlim(), ax.get_ylim(), ax.get_visible()))
        for axis in (ax.xaxis, ax.yaxis):
            locations = axis.get_majorticklocs()
            parts.append((tuple(locations), tuple(axis.get_major_formatter().format_ticks(locations))))
        for text in ax.texts:
            if not text.get_animated():
                parts.append((text.get_text(), text.get_position(), text.get_visible(), text.get_color()))
        for patch in ax.patches:
            if not patch.get_animated():
                parts.append((patch.get_xy() if hasattr(patch, "get_xy") else None, patch.get_facecolor()))
        for line in ax.lines:
            if not line.get_animated():
                parts.append((id(line), line.get_visible(), len(line.get_xdata())))
    return tuple(parts)


def figure_to_png(
    figure: Figure, compress_level: int = 1, *, full: bool = False, text: dict[str, str] | None = None
) -> bytes:
    """Render ``figure`` with Agg and encode it as PNG bytes, fast.

    Artists marked with :func:`mark_dynamic` are blitted over a cached background, which is
    redrawn only when the static layer changed (see :func:`_static_signature`); ``full=True``
    forces a complete draw. Drawing once and encoding the RGBA buffer with Pillow at level 1
    is several times faster than ``figure.savefig`` (a second full draw, zlib level 6), and the
    file is only modestly larger: flat-colour plots compress well at any level.

    ``text`` is stored as PNG text chunks (e.g. which slider value the picture was drawn for,
    which the browser tests read back).
    """
    canvas = figure.canvas
    dynamic = [a for a in _DYNAMIC.get(figure, ()) if a.axes is not None or a.figure is not None]
    if not dynamic:
        canvas.draw()
    else:
        signature = _static_signature(figure)
        cached = _BACKGROUNDS.get(figure)
        if full or cached is None or cached[0] != signature:
            canvas.draw()  # draws every artist that is not animated
            _BACKGROUNDS[figure] = (signature, canvas.copy_from_bbox(figure.bbox))
        else:
            canvas.restore_region(cached[1])
        for artist in sorted(dynamic, key=lambda a: a.get_zorder()):
            if artist.get_visible():
                figure.draw_artist(artist)
    width, height = canvas.get_width_height(physical=True)
    rgba = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    info = PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    out = io.BytesIO()
    rgba.convert("RGB").save(out, format="PNG", compress_level=compress_level, pnginfo=info)
    return out.getvalue()
