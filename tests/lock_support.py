"""Reading the course's lock, constraints.txt, in tests: its pins, and which of them apply to a
given Python and platform (the lock serves all of them at once, with environment markers).
"""

from __future__ import annotations

from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "constraints.txt"

# The marker variables that tell the laptop types apart; the rest come from this interpreter.
PLATFORMS = {
    "linux": {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix", "platform_machine": "x86_64"},
    "macos": {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix", "platform_machine": "arm64"},
    "windows": {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt", "platform_machine": "AMD64"},
}


def lock_lines() -> list[str]:
    """The lock's requirement lines: everything but comments (uv's "# via" notes) and blank lines."""
    lines = LOCK.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def lock_requirements() -> list[Requirement]:
    return [Requirement(line) for line in lock_lines()]


def marker_environment(python: str, platform: str) -> dict[str, str]:
    """Marker variables for CPython `python` ('3.12') on `platform` (a PLATFORMS key)."""
    return {**default_environment(), **PLATFORMS[platform], "python_version": python,
            "python_full_version": f"{python}.0", "implementation_name": "cpython",
            "platform_python_implementation": "CPython"}


def pins_for(environment: dict[str, str] | None = None) -> dict[str, str]:
    """Package name -> the one version the lock pins in `environment` (default: this interpreter).

    Fails if two lines apply to the same package there: pip would then be given two pins."""
    pins: dict[str, str] = {}
    for requirement in lock_requirements():
        if requirement.marker and not requirement.marker.evaluate(environment):
            continue
        name = canonicalize_name(requirement.name)
        assert name not in pins, f"constraints.txt pins {name} twice for {environment or 'this Python'}"
        (pins[name],) = [spec.version for spec in requirement.specifier]
    return pins
