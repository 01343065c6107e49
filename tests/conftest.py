"""Shared test helpers.

Optional suites (differential tests against Hugging Face, browser tests) skip with a plain
reason on a learner's machine, and fail instead of skipping when COURSE_REQUIRE_ALL=1, which
CI sets, so that CI can never go green by skipping them. COURSE_REQUIRE=browser (a comma-separated
list of suites) requires just those: CI's newcomer stage requires the browser suite where
chromium is installed, while the reference suite, which needs an extra, may skip there.
"""

import importlib.util
import os
import shutil

import pytest

from course_utils.model import load_model
from course_utils.sampling import MARGIN_VARIABLE

REQUIRE_ALL = os.environ.get("COURSE_REQUIRE_ALL") == "1"
REQUIRED_SUITES = {name.strip() for name in os.environ.get("COURSE_REQUIRE", "").split(",") if name.strip()}


@pytest.fixture(scope="session")
def model():
    """The course's bundled model, loaded once for the whole test session."""
    return load_model()


@pytest.fixture(autouse=True)
def no_margin_requirement(monkeypatch):
    """`make test` sets COURSE_MIN_MARGIN for the lesson notebooks' kernels (every printed text
    must survive another machine's rounding); unit tests draw from tiny made-up distributions
    whose near-ties are deliberate, so they run without it."""
    monkeypatch.delenv(MARGIN_VARIABLE, raising=False)


def skip_or_fail(reason: str, suite: str | None = None) -> None:
    """Skip on a learner's machine; fail in CI, where every suite (or the required ones) must run."""
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (COURSE_REQUIRE_ALL=1: this suite must run here)")
    if suite in REQUIRED_SUITES:
        pytest.fail(f"{reason} (COURSE_REQUIRE={os.environ['COURSE_REQUIRE']}: the {suite} suite must run here)")
    pytest.skip(reason)


def require_reference() -> None:
    """Differential tests need the `reference` extra (torch CPU + transformers)."""
    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        skip_or_fail(
            f"reference tests skipped: {', '.join(missing)} not installed. "
            "Enable them with: .venv/bin/pip install -c constraints.txt -e '.[reference]'",
            "reference",
        )


@pytest.fixture(autouse=True)
def reference_tests_need_their_extra(request):
    """Every test marked `reference` skips (or fails in CI) with the install command when torch or
    transformers is missing, before its body imports them."""
    if request.node.get_closest_marker("reference"):
        require_reference()


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_browser() -> str:
    """Browser tests need Debian's chromium; returns its path."""
    path = chromium_path()
    if path is None:
        skip_or_fail(
            "browser tests skipped: chromium not found. "
            "Enable them with: sudo apt-get install -y chromium",
            "browser",
        )
    return path
