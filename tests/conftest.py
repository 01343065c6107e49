"""Shared test helpers.

Optional suites (differential tests against Hugging Face, browser tests) skip with a plain
reason on a learner's machine, and fail instead of skipping when COURSE_REQUIRE_ALL=1, which
CI sets, so that CI can never go green by skipping them.
"""

import importlib.util
import os
import shutil

import pytest

REQUIRE_ALL = os.environ.get("COURSE_REQUIRE_ALL") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip on a learner's machine; fail in CI, where every suite must run."""
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (COURSE_REQUIRE_ALL=1: this suite must run here)")
    pytest.skip(reason)


def require_reference() -> None:
    """Differential tests need the `reference` extra (torch CPU + transformers)."""
    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        skip_or_fail(
            f"reference tests skipped: {', '.join(missing)} not installed. "
            "Enable them with: .venv/bin/pip install -e '.[reference]'"
        )


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_browser() -> str:
    """Browser tests need Debian's chromium; returns its path."""
    path = chromium_path()
    if path is None:
        skip_or_fail(
            "browser tests skipped: chromium not found. "
            "Enable them with: sudo apt-get install -y chromium"
        )
    return path
