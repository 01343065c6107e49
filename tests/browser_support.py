"""Drive the course in JupyterLab in headless Chromium, the way a learner uses it.

Shared by tests/test_browser.py and benchmarks/bench_browser_latency.py (issue 7).

Explorers are found in the page only by these hooks, which course_utils.widgets.Explorer
gives every explorer (no cell numbers or explorer names are hard-coded here):

- the explorer's root widget has the DOM class ``dd-explorer``;
- its main control has ``dd-main-control``; it must be a slider (Int/Float/SelectionSlider):
  in JupyterLab the arrow keys on a focused dropdown (<select>, not ``:read-write``) trigger
  the notebook's command-mode shortcuts instead, so a learner could not move it by keyboard;
- its figure, a ``widgets.Image``, has ``dd-figure``;
- every PNG it shows carries a PNG text chunk ``dd-main``: the main control's value as the
  control shows it on screen (a SelectionSlider's label, a slider's ``readout_format``).

The last hook is what lets a test prove that the pixels on screen were drawn *for the value the
control now shows*, not merely that they changed: after a key press we wait until the
``<img>`` on screen holds a new PNG whose ``dd-main`` equals the control's readout, and measure
the time from the key press to the first painted frame with that image.

Everything a test checks here arrives asynchronously, and on a busy machine many times later
than usual. So every such check waits on the condition itself through one helper,
:func:`wait_until`, with a generous bound (``*_TIMEOUT_S`` below), and when the bound runs out
fails with what it expected, what was on screen last and how long it waited. A test must fail
on a wrong picture, never on a late one: a late picture is waited for; a wrong one (a new PNG,
painted, drawn for another value than the readout shows, once the kernel has answered the key
press, so nothing else is coming for it) ends the wait at once.

Chromium comes from the system (Debian's ``chromium`` package): Playwright cannot download its
own browser build on these machines, so it is launched with ``executable_path``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from course_utils.sampling import MARGIN_VARIABLE

REPO = Path(__file__).resolve().parents[1]
# DD_NOTEBOOKS points the suite at another copy of the lessons (e.g. a learner's edited copy).
NOTEBOOKS = Path(os.environ.get("DD_NOTEBOOKS", REPO / "notebooks"))
SCREENSHOTS = REPO / "artifacts" / "screenshots"
LESSON_GLOB = "[0-9][0-9]_*.ipynb"
#: A laptop's JupyterLab: a window 1,100 CSS px wide with the file browser open. Every explorer's
#: smallest text must be at least MIN_TEXT_CSS_PX there (docs/display-design.md, "Legible text").
LAPTOP_WINDOW = {"width": 1100, "height": 800}
MIN_TEXT_CSS_PX = 8.0
T = TypeVar("T")

WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

# JupyterLab user settings for the test server: no news or update checks (they would reach the
# network), and nothing else changed, so the page is the JupyterLab a learner gets.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}

# Bounds for wait_until: generous, because they only matter when something is broken. On an idle
# machine a redraw takes well under a second and a lesson's Run All under a minute; with other
# work on the 2 cores (the notebook tests, a build) both can take many times longer.
SERVER_START_TIMEOUT_S = 120
KERNEL_READY_TIMEOUT_S = 180
RUN_ALL_TIMEOUT_S = 1200  # a whole lesson, model load included (05 took 226-420+ s at load 6)
RENDER_TIMEOUT_S = 120  # widgets and their hooks in the DOM after the kernel is idle
REDRAW_TIMEOUT_S = 60  # key press -> the picture drawn for the new value, painted
# Playwright's own waits (navigation, element screenshots, scrolling) default to 30 s.
PLAYWRIGHT_TIMEOUT_S = 120
POLL_S = 0.1
REDRAW_POLL_S = 0.05


class WaitTimeout(AssertionError):
    """A :func:`wait_until` bound ran out. The message says what, the last value seen, how long."""

    def __init__(self, message: str, *, expected: str, last: object, waited_s: float,
                 timeout_s: float):  # fmt: skip
        super().__init__(message)
        self.expected = expected
        self.last = last
        self.waited_s = waited_s
        self.timeout_s = timeout_s


def wait_until(
    probe: Callable[[], T],
    done: Callable[[T], bool],
    *,
    expected: str,
    timeout_s: float,
    describe: Callable[[T], str] = repr,
    poll_s: float = POLL_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, float]:
    """Call ``probe()`` until ``done(value)`` holds; return ``(value, seconds waited)``.

    Why this exists: what a browser test checks (a redraw after a key press, cell outputs,
    widgets, the kernel's state) arrives asynchronously, and with another process busy on the
    machine it can arrive many times later than usual. An assertion made without waiting, or
    after a fixed sleep, then fails on a *late* result, which says nothing about the course.
    So every such check polls the condition itself and returns as soon as it holds; only when
    ``timeout_s`` runs out does it fail, with a :class:`WaitTimeout` naming what it
    ``expected``, the last value seen (through ``describe``) and how long it waited. A wrong
    result is the caller's to recognise in ``done`` and report.

    ``clock`` and ``sleep`` are there for the unit test (tests/test_browser.py).
    """
    start = clock()
    while True:
        value = probe()
        waited = clock() - start
        if done(value):
            return value, waited
        if waited >= timeout_s:
            raise WaitTimeout(
                f"waited {waited:.1f} s (bound {timeout_s:g} s) for {expected}; "
                f"last seen: {describe(value)}",
                expected=expected, last=value, waited_s=waited, timeout_s=timeout_s,
            )  # fmt: skip
        sleep(min(poll_s, timeout_s - waited))


def lesson_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """Every lesson, in course order: notebooks named like ``03_temperature.ipynb``."""
    return sorted(folder.glob(LESSON_GLOB))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- JupyterLab server


@dataclass
class LabServer:
    url: str
    token: str
    root: Path
    process: subprocess.Popen
    log_path: Path

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?reset&token={self.token}"

    def api(self, method: str, path: str) -> object:
        request = urllib.request.Request(
            f"{self.url}{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Stop every kernel, so each lesson's model is freed before the next one loads."""
        for kernel in self.api("GET", "/api/kernels"):
            self.api("DELETE", f"/api/kernels/{kernel['id']}")

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def _write_lab_settings(settings_dir: Path) -> None:
    for relative, values in LAB_SETTINGS.items():
        path = settings_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")


@contextmanager
def jupyterlab_server(notebooks: list[Path], workdir: Path) -> Iterator[LabServer]:
    """Start JupyterLab on 127.0.0.1 over a *copy* of ``notebooks``; always stop it.

    The repo's notebooks are never opened: running cells in the browser would rewrite them.
    """
    root = workdir / "course"
    root.mkdir(parents=True)
    for notebook in notebooks:
        shutil.copy2(notebook, root / notebook.name)
    settings_dir = workdir / "lab-settings"
    _write_lab_settings(settings_dir)
    env = dict(
        os.environ,
        JUPYTERLAB_SETTINGS_DIR=str(settings_dir),
        JUPYTERLAB_WORKSPACES_DIR=str(workdir / "lab-workspaces"),
        JUPYTER_RUNTIME_DIR=str(workdir / "runtime"),
        IPYTHONDIR=str(workdir / "ipython"),
        PYTHONUNBUFFERED="1",
    )
    # `make test` holds the lessons' printed draws to a margin (COURSE_MIN_MARGIN; nbval checks
    # those outputs). Here a learner moves the controls to any setting, near-ties included: an
    # explorer must draw it, not refuse it.
    env.pop(MARGIN_VARIABLE, None)
    port, token = free_port(), uuid.uuid4().hex
    log_path = workdir / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.allow_root=True",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = LabServer(f"http://127.0.0.1:{port}", token, root, process, log_path)
    try:
        _wait_until_up(server)
        yield server
    finally:
        _stop(process)


def _wait_until_up(server: LabServer) -> None:
    def status() -> str:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"JupyterLab exited with code {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            server.api("GET", "/api/status")
            return "up"
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            return f"no answer yet ({error})"

    try:
        wait_until(
            status, lambda s: s == "up", expected="JupyterLab to answer /api/status",
            timeout_s=SERVER_START_TIMEOUT_S, describe=str, poll_s=0.25,
        )  # fmt: skip
    except WaitTimeout as error:
        raise RuntimeError(f"{error}\n{server.log_tail()}") from None


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM lets the server shut its kernels down; SIGKILL the group if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


# --------------------------------------------------------------------------- browser


@contextmanager
def chromium(executable: str, workdir: Path) -> Iterator[object]:
    """A fresh headless Chromium profile (a Playwright BrowserContext)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(workdir / "chromium-profile"),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 1000},
        )
        context.set_default_timeout(PLAYWRIGHT_TIMEOUT_S * 1000)
        context.set_default_navigation_timeout(PLAYWRIGHT_TIMEOUT_S * 1000)
        try:
            yield context
        finally:
            context.close()


# JavaScript run in the page. `jupyterapp` exists because of --LabApp.expose_app_in_browser.
_JS_KERNEL_STATE = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = panel && panel.sessionContext && panel.sessionContext.session
        && panel.sessionContext.session.kernel;
    return kernel ? kernel.connectionStatus + '/' + kernel.status : 'no kernel yet';
}"""

# `void`: execute() returns a promise that resolves only when every cell has run; awaiting it
# inside page.evaluate would hang the test instead of letting us poll with a timeout.
_JS_RUN_ALL = """() => {
    const commands = window.jupyterapp.commands;
    void commands.execute('notebook:clear-all-cell-outputs')
        .then(() => commands.execute('notebook:run-all-cells'));
}"""

_JS_RUN_STATE = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const kernel = panel.sessionContext.session.kernel;
    let pending = 0, unrun = 0, errors = [];
    panel.content.widgets.forEach((cell, index) => {
        if (cell.model.type !== 'code') return;
        if (cell.model.sharedModel.getSource().trim() === '') return;
        const prompt = cell.node.querySelector('.jp-InputPrompt');
        if (prompt && prompt.textContent.includes('*')) pending += 1;
        if (cell.model.executionCount === null) unrun += 1;
        for (const output of cell.model.outputs.toJSON()) {
            if (output.output_type === 'error') {
                errors.push({cell: index, ename: output.ename, evalue: output.evalue});
            }
        }
    });
    return {status: kernel ? kernel.status : 'no kernel', pending, unrun, errors};
}"""

_JS_EXPLORER_BUNDLES = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    let count = 0;
    for (const cell of panel.content.widgets) {
        if (cell.model.type !== 'code') continue;
        for (const output of cell.model.outputs.toJSON()) {
            const data = output.data || {};
            if (data['application/vnd.jupyter.widget-view+json'] && data['image/png']) count += 1;
        }
    }
    return count;
}"""

_JS_WIDGETS_UNRENDERED = """() => {
    const views = document.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.widget-view+json"]');
    return Array.from(views).filter(view => view.querySelector('.jupyter-widgets, .widget-box, '
        + '.widget-inline-hbox') === null && !view.textContent.includes('Error displaying widget'))
        .length;
}"""

# Reads what the main control shows, in the page, so the same rule serves tests and benchmark.
_JS_HELPERS = r"""
window.__dd = window.__dd || (() => {
    function control(root) { return root.querySelector('.dd-main-control'); }
    function figure(root) { return root.querySelector('img.dd-figure, .dd-figure img'); }
    function handle(root) {
        const c = control(root);
        return c.querySelector('select') || c.querySelector('.noUi-handle') || c;
    }
    function shown(root) {
        const c = control(root);
        const select = c.querySelector('select');
        // ipywidgets shows spaces in option labels as no-break spaces.
        const text = select
            ? (select.selectedIndex < 0 ? '' : select.options[select.selectedIndex].textContent)
            : (c.querySelector('.widget-readout') || {textContent: null}).textContent;
        return text === null ? null : text.replace(/\u00a0/g, ' ').trim();
    }
    // 'up' / 'down' / 'both': which way the control can still move.
    function room(root) {
        const c = control(root);
        const select = c.querySelector('select');
        if (select) {
            const i = select.selectedIndex, n = select.options.length;
            return {up: i < n - 1, down: i > 0};
        }
        const h = c.querySelector('.noUi-handle');
        const now = parseFloat(h.getAttribute('aria-valuenow'));
        return {up: now < parseFloat(h.getAttribute('aria-valuemax')),
                down: now > parseFloat(h.getAttribute('aria-valuemin'))};
    }
    function isSelect(root) { return control(root).querySelector('select') !== null; }
    function pngText(buffer, key) {
        const bytes = new Uint8Array(buffer);
        const view = new DataView(buffer);
        let pos = 8;
        const latin1 = new TextDecoder('latin1'), utf8 = new TextDecoder('utf-8');
        while (pos + 8 <= bytes.length) {
            const length = view.getUint32(pos);
            const kind = latin1.decode(bytes.subarray(pos + 4, pos + 8));
            const body = bytes.subarray(pos + 8, pos + 8 + length);
            pos += 12 + length;
            if (kind !== 'tEXt' && kind !== 'iTXt') { if (kind === 'IEND') break; continue; }
            const zero = body.indexOf(0);
            if (latin1.decode(body.subarray(0, zero)) !== key) continue;
            if (kind === 'tEXt') return latin1.decode(body.subarray(zero + 1));
            if (body[zero + 1] !== 0) return null;  // compressed iTXt: matplotlib never writes it
            let rest = body.subarray(zero + 3);
            rest = rest.subarray(rest.indexOf(0) + 1);  // language tag
            rest = rest.subarray(rest.indexOf(0) + 1);  // translated keyword
            return utf8.decode(rest);
        }
        return null;
    }
    async function drawnFor(img) {
        const response = await fetch(img.src);
        return pngText(await response.arrayBuffer(), 'dd-main');
    }
    // A text chunk of the picture on screen now ('dd-marks', 'dd-boundary'...), or null.
    async function chunkOnScreen(root, key) {
        const response = await fetch(figure(root).src);
        return pngText(await response.arrayBuffer(), key);
    }
    // The smallest text of the figure as the reader sees it, in CSS pixels: its size in the PNG's
    // own pixels (the 'dd-min-text-px' chunk) times how much the page scales the <img>.
    async function smallestTextCssPx(root) {
        const img = figure(root);
        const response = await fetch(img.src);
        const px = Number(pngText(await response.arrayBuffer(), 'dd-min-text-px'));
        return {px: px * img.clientWidth / img.naturalWidth, shownWidth: img.clientWidth,
                naturalWidth: img.naturalWidth};
    }
    function sameValue(shownText, drawn) {
        if (drawn === null || shownText === null) return false;
        // ipywidgets' readout writes negatives with a Unicode minus; Python writes '-'.
        shownText = shownText.replace(/\u2212/g, '-');
        drawn = drawn.replace(/\u2212/g, '-');
        if (shownText.trim() === drawn.trim()) return true;
        const a = Number(shownText), b = Number(drawn);
        if (shownText.trim() === '' || Number.isNaN(a) || Number.isNaN(b)) return false;
        const decimals = (shownText.trim().split('.')[1] || '').length;
        return Math.abs(a - b) <= 0.5 * Math.pow(10, -decimals) + 1e-12;
    }
    const nextPaint = () => new Promise(resolve =>
        requestAnimationFrame(() => setTimeout(resolve, 0)));
    function kernelOfPage() {
        const panel = window.jupyterapp.shell.currentWidget;
        return (panel && panel.sessionContext.session && panel.sessionContext.session.kernel)
            || null;
    }
    function kernelStatus() {
        const kernel = kernelOfPage();
        return kernel ? kernel.status : 'no kernel';
    }
    // Arm before the key press. Records, for each new picture the <img> gets, the value it was
    // drawn for and when its first frame was painted (times from the keydown), and whether the
    // kernel went busy after the keydown (it is answering the key press). It never gives up on
    // its own: the test polls state() (wait_until in Python) with its own bound.
    function arm(root) {
        const img = figure(root);
        const rec = {keyAt: null, srcAtArm: img.src, painted: null, drawnBySrc: {},
                     busyAfterKey: false, kernel: kernelOfPage()};
        document.addEventListener('keydown', e => { rec.keyAt = e.timeStamp; },
                                  {capture: true, once: true});
        rec.onStatus = (_, status) => {
            if (status === 'busy' && rec.keyAt !== null) rec.busyAfterKey = true;
        };
        if (rec.kernel) rec.kernel.statusChanged.connect(rec.onStatus);
        const check = async () => {
            const src = img.src;
            try { await img.decode(); } catch (e) { return; }
            await nextPaint();
            const at = performance.now();
            if (img.src !== src) return;  // superseded by a newer image
            let drawn;
            try { drawn = await drawnFor(img); } catch (e) { return; }  // blob revoked
            if (img.src !== src) return;
            rec.painted = {src, drawn, at};
        };
        rec.observer = new MutationObserver(check);
        rec.observer.observe(img, {attributes: true, attributeFilter: ['src']});
        return rec;
    }
    // What is on screen now: the readout, the value the <img>'s PNG was drawn for, whether that
    // PNG is new since arm() and painted, the kernel's status, and whether the kernel has
    // answered the key press (busy after the keydown, idle now). rec may be null (not armed).
    async function state(root, rec) {
        const img = figure(root);
        const src = img ? img.src : '';
        const cache = rec ? rec.drawnBySrc : {};
        if (!(src in cache) && src) {
            try { cache[src] = await drawnFor(img); } catch (e) { /* revoked: next poll */ }
        }
        const drawn = src in cache ? cache[src] : null;
        const now = shown(root);
        const painted = !!rec && rec.painted !== null && rec.painted.src === src;
        return {
            shown: now, drawn, match: sameValue(now, drawn),
            isNew: !!rec && src !== rec.srcAtArm, painted,
            ms: painted && rec.keyAt !== null ? rec.painted.at - rec.keyAt : null,
            kernel: kernelStatus(),
            answered: !!rec && rec.busyAfterKey && kernelStatus() === 'idle',
        };
    }
    function disarm(rec) {
        if (!rec) return;
        rec.observer.disconnect();
        if (rec.kernel) rec.kernel.statusChanged.disconnect(rec.onStatus);
    }
    return {control, figure, handle, shown, room, isSelect, drawnFor, chunkOnScreen, smallestTextCssPx, sameValue,
            arm, state, disarm};
})();
"""


@dataclass
class Change:
    """One key press on an explorer's main control and what reached the screen.

    ``ok``: the picture on screen is a new one drawn for the value the slider shows. Otherwise
    it is a *wrong* picture: new, painted, drawn for ``drawn`` while the slider shows ``shown``.
    (A picture that never comes is not a Change: :meth:`Explorer.press` raises WaitTimeout.)
    ``ms``: key press to the first painted frame of that picture, in the page's clock;
    ``waited_s``: how long the test waited for it, polling included.
    """

    key: str
    ok: bool
    ms: float | None
    shown: str | None
    drawn: str | None
    waited_s: float = 0.0


def describe_picture(state: dict) -> str:
    """A picture state from ``window.__dd.state`` in words, for failure messages."""
    if state["isNew"]:
        age = "a new picture" + ("" if state["painted"] else " (not painted yet)")
    else:
        age = "still the picture from before the key press" if "isNew" in state else "the picture"
    return (
        f"the slider shows {state['shown']!r}, the picture on screen ({age}) was drawn for "
        f"{state['drawn']!r}; kernel {state['kernel']}"
    )


@dataclass
class Explorer:
    page: object
    root: object  # Playwright Locator of the .dd-explorer element
    index: int

    @property
    def label(self) -> str:
        text = self.root.locator(".dd-main-control .widget-label").first
        name = text.inner_text().strip() if text.count() else ""
        return f"explorer {self.index + 1}" + (f" ({name})" if name else "")

    def check_hooks(self) -> list[str]:
        """Hooks that are missing or ambiguous, in words (empty when all is well)."""
        problems = []
        for selector, what in (
            (".dd-main-control", "main control (class dd-main-control)"),
            ("img.dd-figure, .dd-figure img", "figure <img> (class dd-figure)"),
        ):
            count = self.root.locator(selector).count()
            if count != 1:
                problems.append(f"expected exactly one {what}, found {count}")
        return problems

    def wait_for_hooks(self, timeout_s: float = RENDER_TIMEOUT_S) -> list[str]:
        """Wait until the hooks are all there (a Box renders its children asynchronously).

        Returns the problems still seen when the bound ran out (empty when all is well).
        """
        try:
            wait_until(
                self.check_hooks, lambda problems: not problems,
                expected=f"{self.label}: its hooks in the DOM", timeout_s=timeout_s,
            )  # fmt: skip
        except WaitTimeout as error:
            return [*error.last, f"(waited {error.waited_s:.1f} s for them)"]
        return []

    def picture_state(self) -> dict:
        """What is on screen now (see ``state`` in _JS_HELPERS), armed or not."""
        return self.root.evaluate(
            "root => window.__dd.state(root, window.__ddPending && window.__ddPending.root === root"
            " ? window.__ddPending : null)"
        )

    def wait_for_picture_of_shown_value(
        self, timeout_s: float = REDRAW_TIMEOUT_S
    ) -> tuple[dict, float]:
        """Wait until the picture on screen was drawn for the value the slider shows.

        For the state after Run All, when no key was pressed: a later cell may still be
        redrawing the explorer, and the widget manager applies updates asynchronously. Raises
        WaitTimeout (the last state in words) when the bound runs out.
        """
        return wait_until(
            self.picture_state, lambda s: s["match"],
            expected=f"{self.label}: a picture drawn for the value the slider shows",
            timeout_s=timeout_s, describe=describe_picture,
        )  # fmt: skip

    def shown(self) -> str | None:
        return self.root.evaluate("root => window.__dd.shown(root)")

    def drawn(self) -> str | None:
        return self.root.evaluate("root => window.__dd.drawnFor(window.__dd.figure(root))")

    def figure_pixels(self) -> bytes:
        return self.root.locator("img.dd-figure, .dd-figure img").first.screenshot()

    def main_control_problem(self) -> str | None:
        """Why a learner could not move the main control from the keyboard, if so."""
        if self.root.evaluate("root => window.__dd.isSelect(root)"):
            return (
                "its main control is a Dropdown. In JupyterLab the arrow keys on "
                "a focused <select> move the notebook's cell cursor instead (a <select> is not "
                ":read-write, so command-mode shortcuts fire): make a slider the main control"
            )
        room = self.root.evaluate("root => window.__dd.room(root)")
        if not room["up"] and not room["down"]:
            return "its main control has a single value, nothing to move"
        return None

    def next_key(self, prefer_up: bool = True) -> str:
        """ArrowRight (or ArrowLeft at the end of the range, or when ``prefer_up`` is False)."""
        room = self.root.evaluate("root => window.__dd.room(root)")
        up = room["up"] if prefer_up else not room["down"]
        return "ArrowRight" if up else "ArrowLeft"

    def focus_control(self) -> None:
        self.root.scroll_into_view_if_needed()
        self.root.evaluate("root => window.__dd.handle(root).focus()")

    def press(self, key: str, timeout_s: float = REDRAW_TIMEOUT_S) -> Change:
        """Press ``key`` on the focused main control; wait for the new picture, however late.

        Returns as soon as a new picture drawn for the value the slider shows is painted
        (``ok``), or as soon as a new picture drawn for another value is painted and the
        kernel has answered the key press (busy after the keydown, idle again), so nothing else
        is coming for it (not ``ok``: a wrong picture fails at once, it is not waited out). A
        picture that has not come within ``timeout_s`` raises WaitTimeout, which says what the
        slider and the picture showed and how long it waited.
        """
        self.root.evaluate(
            "root => { window.__dd.disarm(window.__ddPending);"
            " window.__ddPending = window.__dd.arm(root); window.__ddPending.root = root; }"
        )
        try:
            self.page.keyboard.press(key)
            state, waited = wait_until(
                self.picture_state,
                lambda s: s["painted"] and (s["match"] or s["answered"]),
                expected=f"{self.label}: after {key}, a new picture drawn for the value the "
                "slider shows",
                timeout_s=timeout_s, describe=describe_picture, poll_s=REDRAW_POLL_S,
            )  # fmt: skip
        finally:
            self.page.evaluate(
                "() => { window.__dd.disarm(window.__ddPending); window.__ddPending = null; }"
            )
        return Change(key, state["match"], state["ms"], state["shown"], state["drawn"], waited)

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.root.screenshot(path=str(path))
        return path

    def smallest_text(self) -> dict:
        """The figure's smallest text in CSS pixels as shown now, with the picture's widths."""
        return self.root.evaluate("root => window.__dd.smallestTextCssPx(root)")

    def chunk(self, key: str) -> str | None:
        """A PNG text chunk of the picture on screen now (see course_utils.widgets.base)."""
        return self.root.evaluate("(root, key) => window.__dd.chunkOnScreen(root, key)", key)

    def marks(self) -> list:
        """What the picture on screen draws apart from its text (``plots.drawn_marks``)."""
        return json.loads(self.chunk("dd-marks") or "null")


#: How far a mark must move to count as a visible change: a pixel of rounding is not one.
VISIBLE_MOVE_PX = 2


def visible_change(before: list, after: list) -> str | None:
    """How the marks of `after` differ visibly from those of `before` (None if only words did):
    a mark appeared or vanished, changed colour, or moved by VISIBLE_MOVE_PX or more."""
    if len(before) != len(after):
        return f"{abs(len(after) - len(before))} marks appeared or vanished"
    for (kind, colour, points), (kind_after, colour_after, points_after) in zip(before, after):
        if (kind, len(points)) != (kind_after, len(points_after)):
            return f"a {kind} changed shape"
        if colour != colour_after:
            return f"a {kind} changed colour ({colour} -> {colour_after})"
        if points and max(abs(a - b) for a, b in zip(points, points_after)) >= VISIBLE_MOVE_PX:
            return f"a {kind} moved"
    return None


@dataclass
class LessonPage:
    """One lesson open in JupyterLab in its own tab, with the console watched."""

    page: object
    server: LabServer
    name: str
    console_errors: list[str] = field(default_factory=list)

    def open(self) -> None:
        self.page.on("console", self._record_console_error)
        self.page.on("pageerror", lambda error: self.console_errors.append(f"page error: {error}"))
        self.page.goto(self.server.notebook_url(self.name), wait_until="domcontentloaded")
        wait_until(
            lambda: self.page.evaluate(_JS_KERNEL_STATE), lambda s: s == "connected/idle",
            expected=f"{self.name}: its kernel connected and idle",
            timeout_s=KERNEL_READY_TIMEOUT_S, describe=str, poll_s=0.25,
        )  # fmt: skip
        self.page.add_script_tag(content=_JS_HELPERS)

    def _record_console_error(self, message) -> None:
        if message.type == "error":
            self.console_errors.append(f"console.error: {message.text} ({message.location})")

    def run_all(self, timeout_s: float = RUN_ALL_TIMEOUT_S) -> dict:
        """Clear outputs, run every cell, and wait until the kernel is idle and all have run.

        Returns the final state: {'status', 'pending', 'unrun', 'errors'}; a cell error stops
        the run, so the wait ends early when one appears.
        """
        self.page.evaluate(_JS_RUN_ALL)
        try:
            wait_until(
                lambda: self.page.evaluate(_JS_RUN_STATE),
                lambda s: s["status"] == "idle" and s["pending"] == 0
                and (s["unrun"] == 0 or bool(s["errors"])),
                expected=f"{self.name}: Run All to finish (kernel idle, every code cell run)",
                timeout_s=timeout_s, poll_s=0.5,
            )  # fmt: skip
            wait_until(
                lambda: self.page.evaluate(_JS_WIDGETS_UNRENDERED), lambda n: n == 0,
                expected=f"{self.name}: every widget output rendered",
                timeout_s=RENDER_TIMEOUT_S, describe=lambda n: f"{n} widget outputs not rendered",
                poll_s=0.25,
            )  # fmt: skip
        except WaitTimeout as error:
            shot = SCREENSHOTS / f"{Path(self.name).stem}__timeout.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(shot))
            raise AssertionError(f"{error} (screenshot: {shot})") from None
        return self.page.evaluate(_JS_RUN_STATE)

    def wait_for_explorers(
        self, timeout_s: float = RENDER_TIMEOUT_S
    ) -> tuple[list[Explorer], int]:
        """The explorers on the page, once as many have rendered as outputs are explorers.

        Returns ``(explorers, bundles)``: when the bound runs out the two counts differ and the
        caller says so (an explorer without the hooks).
        """
        bundles = self.explorer_bundles()
        try:
            explorers, _ = wait_until(
                self.explorers, lambda found: len(found) == bundles,
                expected=f"{self.name}: {bundles} explorers with the class dd-explorer",
                timeout_s=timeout_s, describe=lambda found: f"{len(found)} found",
                poll_s=0.25,
            )  # fmt: skip
        except WaitTimeout as error:
            explorers = error.last
        return explorers, bundles

    def explorer_bundles(self) -> int:
        return self.page.evaluate(_JS_EXPLORER_BUNDLES)

    def explorers(self) -> list[Explorer]:
        roots = self.page.locator(".jp-Notebook .dd-explorer")
        return [Explorer(self.page, roots.nth(i), i) for i in range(roots.count())]

    def error_output_texts(self) -> list[str]:
        return [
            f"cell {e['cell']}: {e['ename']}: {e['evalue']}"
            for e in self.page.evaluate(_JS_RUN_STATE)["errors"]
        ]


def screenshot_path(notebook_name: str, explorer: Explorer) -> Path:
    return SCREENSHOTS / f"{Path(notebook_name).stem}__explorer{explorer.index + 1}.png"
