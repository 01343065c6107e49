"""Export every lesson to static HTML that a reader can use offline, without a kernel.

    .venv/bin/python scripts/export_html.py            # -> site/ (what `make html` runs)
    .venv/bin/python scripts/export_html.py --out /tmp/pages

Writes ``<out>/NN_name.html`` per lesson (notebooks/NN_*.ipynb, with their committed outputs),
``<out>/index.html`` linking them, and ``<out>/mathjax/``: a local MathJax 2.7 (from the
``jupyter-server-mathjax`` package) so formulas render with no network.

nbconvert's lab template would otherwise fetch from CDNs: require.js, MathJax, mermaid (an inline
module script that imports it), and, when the notebook carries widget state, the Jupyter widget
manager. Here require.js, mermaid and the widget manager are left out (the lessons need none of
them), MathJax comes from ``mathjax/``, and the notebook's widget state is dropped before
export: without it nbconvert renders each explorer's ``image/png`` (its picture, carried beside
the live widget view in the explorer's display bundle; see course_utils/widgets.py) instead of a
widget that would need JavaScript from a CDN. Links between lessons (``02_softmax.ipynb``) are
rewritten to the exported pages.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
from pathlib import Path

import jinja2
import nbformat
from nbconvert import HTMLExporter

REPO = Path(__file__).resolve().parents[1]
LESSON_GLOB = "[0-9][0-9]_*.ipynb"
MATHJAX_DIR = "mathjax"
MATHJAX_URL = f"{MATHJAX_DIR}/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"

# Extends nbconvert's lab template; every block emptied here would load a script from a CDN.
# The local MathJax (jupyter-server-mathjax) ships only the STIX-Web fonts, not MathJax's
# default TeX fonts, so it is told to use those (a window.MathJax object set before MathJax.js
# loads is its configuration).
OFFLINE_TEMPLATE = """\
{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
<script>
window.MathJax = {"HTML-CSS": {availableFonts: [], preferredFont: null, imageFont: null,
                               webFont: "STIX-Web"},
                  SVG: {font: "STIX-Web"}};
</script>
{{ super() }}
{%- endblock html_head_js_mathjax -%}
"""

# href="03_temperature.ipynb" or href="03_temperature.ipynb#section" -> the exported page.
_LESSON_LINK = re.compile(r'href="(\d\d_[\w.-]+?)\.ipynb(#[^"]*)?"')


def lessons(folder: Path) -> list[Path]:
    return sorted(folder.glob(LESSON_GLOB))


def mathjax_source() -> Path:
    try:
        import jupyter_server_mathjax
    except ImportError as error:
        raise RuntimeError(
            "export_html needs a local MathJax: .venv/bin/pip install jupyter-server-mathjax"
        ) from error
    return Path(jupyter_server_mathjax.__file__).parent / "static"


def offline_exporter() -> HTMLExporter:
    return HTMLExporter(
        template_name="lab",
        extra_loaders=[jinja2.DictLoader({"dd_offline.html.j2": OFFLINE_TEMPLATE})],
        template_file="dd_offline.html.j2",
        mathjax_url=MATHJAX_URL,
        embed_images=True,
    )


def export_lesson(exporter: HTMLExporter, notebook: Path) -> str:
    """The lesson as one self-contained HTML page (except MathJax, which sits beside it)."""
    nb = nbformat.read(notebook, as_version=4)
    nb.metadata.pop("widgets", None)  # explorers then export as their pictures
    body, _ = exporter.from_notebook_node(
        nb, resources={"metadata": {"name": notebook.stem, "path": str(notebook.parent)}}
    )
    return _LESSON_LINK.sub(lambda m: f'href="{m[1]}.html{m[2] or ""}"', body)


def lesson_title(notebook: Path) -> str:
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return notebook.stem


def index_page(notebooks: list[Path]) -> str:
    items = "\n".join(
        f'  <li><a href="{nb.stem}.html">{html.escape(lesson_title(nb))}</a></li>'
        for nb in notebooks
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Decoding Dials: the lessons</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 2em auto; line-height: 1.5">
<h1>Decoding Dials</h1>
<p>The lessons as static pages: every explorer appears as a picture of its starting state.
To move the sliders, open the notebooks in JupyterLab (<code>make lab</code>).</p>
<ol>
{items}
</ol>
</body>
</html>
"""


def export_site(notebooks_dir: Path, out: Path) -> list[Path]:
    notebooks = lessons(notebooks_dir)
    if not notebooks:
        raise RuntimeError(f"no lessons ({LESSON_GLOB}) in {notebooks_dir}")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(mathjax_source(), out / MATHJAX_DIR, dirs_exist_ok=True)
    exporter = offline_exporter()
    written = []
    for notebook in notebooks:
        page = out / f"{notebook.stem}.html"
        page.write_text(export_lesson(exporter, notebook), encoding="utf-8")
        written.append(page)
    (out / "index.html").write_text(index_page(notebooks), encoding="utf-8")
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=Path, default=REPO / "notebooks")
    parser.add_argument("--out", type=Path, default=REPO / "site")
    args = parser.parse_args()
    try:
        pages = export_site(args.notebooks, args.out)
    except RuntimeError as error:
        print(f"export_html: {error}", file=sys.stderr)
        return 1
    for page in pages:
        print(f"wrote {page}")
    print(f"open {args.out.resolve() / 'index.html'} in a browser (works offline)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
