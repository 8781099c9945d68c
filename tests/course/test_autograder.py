"""The Gradescope autograder: the zip the real CLI builds, and its run_autograder on submissions.

setup.sh's pip install is not run here: the venv's `support-agent` is put first on the PATH, as
setup.sh's virtualenv would be on Gradescope.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SOLUTION_1 = REPO / "exercises" / "solutions" / "task1_memory.py"
GRADESCOPE_TOP = {"score", "execution_time", "output", "output_format", "visibility", "tests"}
GRADESCOPE_TEST = {"name", "number", "score", "max_score", "status", "output", "output_format"}


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zip, built once by `support-agent grade --package-autograder`."""
    path = tmp_path_factory.mktemp("zip") / "a.zip"
    done = subprocess.run([str(VENV_BIN / "support-agent"), "grade", "--package-autograder",
                           str(path)], capture_output=True, text=True, timeout=60,
                          cwd=path.parent)
    assert done.returncode == 0, done.stderr
    assert path.is_file(), done.stdout
    return path


def unpack(autograder_zip: Path, root: Path) -> Path:
    """Gradescope's layout under `root`: the zip in source/, an empty submission/."""
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(root / "source")
    for name in ("setup.sh", "run_autograder"):
        # extractall drops the permission bits, which Gradescope keeps
        (root / "source" / name).chmod(0o755)
    (root / "submission").mkdir()
    return root


def run_autograder(root: Path, **env: str) -> tuple[dict, str]:
    """Run run_autograder as Gradescope would (from its copy at ROOT/run_autograder).

    Returns results.json and what the script printed (the grading log).
    """
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    environment = {**os.environ, "AUTOGRADER_ROOT": str(root),
                   "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", **env}
    done = subprocess.run([str(root / "run_autograder")], capture_output=True, text=True,
                          env=environment, timeout=240, cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    results = root / "results" / "results.json"
    assert results.is_file(), done.stdout + done.stderr
    return json.loads(results.read_text()), done.stdout


def test_the_zip_holds_the_two_scripts_and_the_project_without_caches(autograder_zip: Path):
    with zipfile.ZipFile(autograder_zip) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        run_script = archive.read("run_autograder").decode()
        setup_script = archive.read("setup.sh").decode()
    names = set(infos)
    for script in ("setup.sh", "run_autograder"):
        mode = infos[script].external_attr >> 16
        assert mode & stat.S_IXUSR, f"{script} is not executable"
    assert {"project/pyproject.toml", "project/README.md", "project/agent/cli.py",
            "project/exercises/grader/runner.py", "project/exercises/grader/autograder.py",
            "project/exercises/tasks/task1_memory/checks.py", "project/exercises/kit.py",
            "project/ui/app.py"} <= names
    tops = {name.split("/")[0] if name.count("/") == 0 else "/".join(name.split("/")[:2])
            for name in names}
    assert tops == {"setup.sh", "run_autograder", "project/pyproject.toml",
                    "project/README.md", "project/agent", "project/exercises", "project/ui"}
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo"))]
    assert not [n for n in names if n.startswith("project/exercises/solutions/")]
    assert "support-agent grade" in run_script and "/autograder" in run_script
    assert "pip install" in setup_script and "source/project" in setup_script
    for script in ("setup.sh", "run_autograder"):
        with zipfile.ZipFile(autograder_zip) as archive:
            text = archive.read(script)
        assert subprocess.run(["bash", "-n"], input=text, timeout=10).returncode == 0, script


def test_run_autograder_grades_a_flat_submission_for_gradescope(autograder_zip: Path,
                                                                  tmp_path: Path):
    root = unpack(autograder_zip, tmp_path / "autograder")
    shutil.copy(SOLUTION_1, root / "submission" / "task1_memory.py")
    results, _ = run_autograder(root)

    assert set(results) >= GRADESCOPE_TOP, results
    assert results["output_format"] == "text" and results["visibility"] == "visible"
    assert isinstance(results["execution_time"], int | float)
    tests = results["tests"]
    assert tests
    for test in tests:
        assert set(test) >= GRADESCOPE_TEST, test
        assert test["status"] in ("passed", "failed"), test
    task1 = [t for t in tests if t["name"].startswith("Task 1 ")]
    others = [t for t in tests if not t["name"].startswith("Task 1 ")]
    assert len(task1) == 3, task1
    assert all(t["status"] == "passed" and t["score"] == t["max_score"] > 0 for t in task1), task1
    assert {t["name"].split(" ")[1] for t in others} == {str(n) for n in range(2, 9)}
    assert all(t["status"] == "failed" and t["score"] == 0 and t["output"] for t in others)
    assert results["score"] == sum(t["max_score"] for t in task1)


def test_a_zipped_workspace_is_found_and_autograder_env_options_apply(
        autograder_zip: Path, tmp_path: Path):
    root = unpack(autograder_zip, tmp_path / "autograder")
    task_dir = root / "submission" / "my-exercises" / "task1_memory"
    task_dir.mkdir(parents=True)
    shutil.copy(SOLUTION_1, task_dir / "solution.py")
    # Task 2 has no file, so the score (under half) is under --fail-under: grade exits 1; the
    # results it wrote must stay, not be replaced by the "could not grade" ones.
    # The options come from autograder.env, as an instructor adds them for Gradescope.
    (root / "source" / "autograder.env").write_text('AUTOGRADER_TASKS="1 2"\n'
                                                    'AUTOGRADER_ARGS="--fail-under 90"\n')
    results, log = run_autograder(root)
    assert "under --fail-under 90" in log, log
    by_task = {}
    for test in results["tests"]:
        by_task.setdefault(test["name"].split(" ")[1], []).append(test["status"])
    assert set(by_task) == {"1", "2"}, results
    assert set(by_task["1"]) == {"passed"} and set(by_task["2"]) == {"failed"}, results
    assert results["score"] > 0


def test_results_json_is_written_even_when_grading_breaks(autograder_zip: Path, tmp_path: Path):
    root = unpack(autograder_zip, tmp_path / "autograder")
    shutil.copy(SOLUTION_1, root / "submission" / "task1_memory.py")
    results, _ = run_autograder(root, AUTOGRADER_TASKS="99")  # no task 99: grade exits with 2
    assert results["score"] == 0 and results["tests"] == []
    assert set(results) >= GRADESCOPE_TOP
    assert "could not grade" in results["output"]
    assert "no task '99'" in results["output"]  # the grader's own words, from the log
