"""`make html`: every lesson as a static page a reader can use offline, without a kernel.

The pages are exported with scripts/export_html.py (what `make html` runs) into a temporary
folder. Checked on the HTML: every explorer cell shows the explorer's picture (the very PNG of
its display bundle, as a data: URI), and nothing the page loads (scripts, styles, images,
fonts) points at an http(s) URL. Checked in headless Chromium with the network switched off:
each page loads with no request leaving the machine, no console error, its formulas typeset by
the local MathJax, and every explorer picture decoded.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from browser_support import NOTEBOOKS, WIDGET_VIEW_MIME, lesson_notebooks
from conftest import require_browser

REPO = Path(__file__).resolve().parents[1]
LESSONS = lesson_notebooks(NOTEBOOKS)

_spec = importlib.util.spec_from_file_location("export_html", REPO / "scripts" / "export_html.py")
export_html = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(export_html)

_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)""")
_REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
_LOADING_ATTRIBUTES = {
    "script": "src", "link": "href", "img": "src", "iframe": "src", "source": "src",
    "video": "src", "audio": "src", "embed": "src", "object": "data",
}  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    export_html.export_site(NOTEBOOKS, out)
    return out


def explorer_pictures(notebook: Path) -> dict[int, list[str]]:
    """{code-cell index: [base64 PNG of each explorer output in it]} for a saved lesson."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    code_cells = [cell for cell in nb["cells"] if cell["cell_type"] == "code"]
    pictures = {}
    for index, cell in enumerate(code_cells):
        pngs = [
            "".join(output["data"]["image/png"]).replace("\n", "")
            for output in cell.get("outputs", [])
            if {WIDGET_VIEW_MIME, "image/png"} <= set(output.get("data", {}))
        ]
        if pngs:
            pictures[index] = pngs
    return pictures


def remote_references(soup: BeautifulSoup) -> list[str]:
    """Every http(s) or protocol-relative URL the page would load (links to read are fine)."""
    found = []
    for tag, attribute in _LOADING_ATTRIBUTES.items():
        for element in soup.find_all(tag):
            value = element.get(attribute)
            if value and _REMOTE.match(value):
                found.append(f"<{tag} {attribute}={value!r}>")
    styles = [style.get_text() for style in soup.find_all("style")]
    styles += [element["style"] for element in soup.find_all(style=True)]
    for css in styles:
        for url in _CSS_URL.findall(_CSS_COMMENT.sub("", css)):
            if _REMOTE.match(url):
                found.append(f"CSS url({url})")
    for script in soup.find_all("script", src=False):
        found += [f"import({url})" for url in re.findall(r"""import\(\s*["']([^"']+)""", script.get_text())
                  if _REMOTE.match(url)]  # fmt: skip
    return found


def test_lessons_are_found():
    assert LESSONS, "no lesson notebooks found (expected notebooks/NN_name.ipynb)"


def test_the_site_has_an_index_linking_every_lesson(site):
    soup = BeautifulSoup((site / "index.html").read_text(encoding="utf-8"), "html.parser")
    links = {a["href"] for a in soup.find_all("a")}
    assert links == {f"{nb.stem}.html" for nb in LESSONS}


@pytest.mark.parametrize("notebook", LESSONS, ids=[nb.stem for nb in LESSONS])
def test_every_explorer_cell_shows_its_picture(site, notebook):
    page = site / f"{notebook.stem}.html"
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    html_cells = soup.select("div.jp-Cell.jp-CodeCell")
    pictures = explorer_pictures(notebook)
    code_cells = sum(
        1 for c in json.loads(notebook.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"
    )
    assert len(html_cells) == code_cells, f"{page.name}: {len(html_cells)} code cells, expected {code_cells}"
    for index, pngs in pictures.items():
        sources = {img.get("src", "") for img in html_cells[index].find_all("img")}
        for png in pngs:
            assert f"data:image/png;base64,{png}" in sources, (
                f"{page.name}: code cell {index + 1} is an explorer but its picture is not in the "
                f"page (images there: {[s[:40] for s in sources]})"
            )
    assert not soup.find_all("script", type=WIDGET_VIEW_MIME), (
        f"{page.name}: exports a live widget view, which needs the widget manager from a CDN"
    )


@pytest.mark.parametrize("notebook", LESSONS, ids=[nb.stem for nb in LESSONS])
def test_the_page_loads_nothing_from_the_network(site, notebook):
    page = site / f"{notebook.stem}.html"
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    assert remote_references(soup) == [], f"{page.name} would load from the network"
    local = [s["src"].split("?")[0] for s in soup.find_all("script", src=True)]
    missing = [src for src in local if not (site / src).is_file()]
    assert not missing, f"{page.name}: scripts not in the site folder: {missing}"


def _mathjax_blank_font(message) -> bool:
    """MathJax 2 declares a font-face at about:blank on purpose, to detect when its web fonts
    have loaded; Chromium logs that load as an error. Harmless, and not a network request."""
    return "about:blank" in message.text or message.location.get("url") == "about:blank"


@pytest.mark.browser
def test_pages_render_offline_in_chromium(site):
    """Each page in a browser with the network off: no request out, no error, math typeset."""
    executable = require_browser()
    from browser_support import chromium

    with chromium(executable, site.parent / "static-profile") as browser:
        browser.set_offline(True)
        for notebook in LESSONS:
            page = browser.new_page()
            requests, errors = [], []
            page.on("request", lambda request: requests.append(request.url))
            page.on("console", lambda m: m.type == "error" and not _mathjax_blank_font(m) and errors.append(m.text))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto((site / f"{notebook.stem}.html").as_uri(), wait_until="load")
            page.wait_for_function(
                "() => window.MathJax && MathJax.Hub && !MathJax.Hub.queue.pending"
                " && MathJax.Hub.queue.running === 0",
                timeout=30_000,
            )
            outside = [u for u in requests if not u.startswith(("file:", "data:", "blob:", "about:"))]
            assert not outside, f"{notebook.stem}.html requested {outside}"
            assert not errors, f"{notebook.stem}.html: console errors {errors}"
            has_math = "$" in "".join(
                "".join(c["source"]) for c in json.loads(notebook.read_text(encoding="utf-8"))["cells"]
                if c["cell_type"] == "markdown"
            )  # fmt: skip
            if has_math:
                typeset = page.evaluate("() => document.querySelectorAll('.MathJax, .MathJax_Display').length")
                assert typeset > 0, f"{notebook.stem}.html: has $math$ but MathJax typeset nothing"
            broken = page.evaluate(
                "() => Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
                ".map(i => i.src.slice(0, 60))"
            )
            assert not broken, f"{notebook.stem}.html: images that did not load: {broken}"
            page.close()
