"""Gradescope's autograder zip: `support-agent grade --package-autograder FILE.zip`.

Gradescope unpacks the zip into /autograder/source, runs `setup.sh` once to build the image,
then runs `run_autograder` for every submission (found in /autograder/submission) and reads
/autograder/results/results.json. The zip carries the project's own sources, so the grader on
Gradescope is exactly the one `support-agent grade` runs here.
"""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path

from agent.errors import InvalidInput

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# What `pip install` needs: the metadata (pyproject.toml names README.md as the readme) and
# every package pyproject.toml lists.
PROJECT_FILES = ("pyproject.toml", "README.md")
PROJECT_PACKAGES = ("agent", "exercises", "ui")
SKIPPED_DIRS = frozenset({"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"})
# The grader never needs the reference solutions; left out, a submission cannot simply import
# them on Gradescope.
SKIPPED_FOLDERS = (("exercises", "solutions"),)
SKIPPED_NAMES = frozenset({".last-grade.json", ".DS_Store"})
SKIPPED_SUFFIXES = frozenset({".pyc", ".pyo"})
ZIP_PROJECT_DIR = "project"  # /autograder/source/project once Gradescope unpacks the zip

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image: a Python 3.11+
# virtualenv at $ROOT/venv with the project (and so `support-agent`) installed.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PROJECT="$ROOT/source/project"

python_ok() {
    command -v "$1" >/dev/null 2>&1 &&
        "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

PY=""
for candidate in python3.13 python3.12 python3.11 python3; do
    if python_ok "$candidate"; then PY="$candidate"; break; fi
done
if [ -z "$PY" ]; then
    # Gradescope's Ubuntu 22.04 image ships Python 3.10; the project needs 3.11 or newer.
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y python3.11 python3.11-venv
    PY=python3.11
fi
if ! "$PY" -m venv "$ROOT/venv"; then
    # Debian and Ubuntu ship the venv module separately.
    rm -rf "$ROOT/venv"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y "$(basename "$PY")-venv"
    "$PY" -m venv "$ROOT/venv"
fi
"$ROOT/venv/bin/python" -m pip install --upgrade pip
# Editable, so the grader reads every file of the zip's project (task data included).
"$ROOT/venv/bin/python" -m pip install -e "$PROJECT"
"$ROOT/venv/bin/support-agent" exercises list  # a smoke test: the tasks and their points
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for every submission. It grades the student's files and writes
# results.json, always: if grading itself breaks, a results.json with score 0 says why.
#   AUTOGRADER_ROOT   where Gradescope's folders are (default /autograder)
#   AUTOGRADER_TASKS  grade only these tasks, e.g. "1 2" (default: all of them)
#   AUTOGRADER_ARGS   more options for `support-agent grade`, e.g. "--timeout-scale 2"
# Gradescope sets no environment, so these (and SUPPORT_POSTGRES_URL) may also come from an
# autograder.env added to the zip's root.
set -u
ROOT="${AUTOGRADER_ROOT:-/autograder}"
case "$ROOT" in /*) ;; *) ROOT="$PWD/$ROOT" ;; esac  # the grading runs in another folder
if [ -f "$ROOT/source/autograder.env" ]; then
    set -a
    # shellcheck disable=SC1091  # the instructor's optional settings
    . "$ROOT/source/autograder.env"
    set +a
fi
RESULTS="$ROOT/results/results.json"
mkdir -p "$ROOT/results"
rm -f "$RESULTS"
if [ -x "$ROOT/venv/bin/support-agent" ]; then
    export PATH="$ROOT/venv/bin:$PATH"
fi

# The submission is a workspace (task1_memory/solution.py ...) or flat files
# (task1_memory.py ...); a zipped workspace may arrive as one folder holding either.
SUBMISSION="$ROOT/submission"
if ! ls "$SUBMISSION" 2>/dev/null | grep -q '^task[0-9]'; then
    for folder in "$SUBMISSION"/*/; do
        if ls "$folder" 2>/dev/null | grep -q '^task[0-9]'; then
            SUBMISSION="${folder%/}"
            break
        fi
    done
fi

# A scratch working directory of our own, so no stray .env (a settings file) is read.
WORK="$(mktemp -d 2>/dev/null)" || { WORK="$ROOT/results/.grading"; mkdir -p "$WORK"; }
LOG="$WORK/grade.log"
cd "$WORK" || cd "$ROOT" || true
# shellcheck disable=SC2086  # the two settings are word lists on purpose
support-agent grade ${AUTOGRADER_TASKS:-} --path "$SUBMISSION" --json "$RESULTS" \
    ${AUTOGRADER_ARGS:-} >"$LOG" 2>&1
status=$?
cat "$LOG"  # the grading log: instructors see it on Gradescope, students do not

# A non-zero status alone is no failure (--fail-under exits 1 after writing the results).
if ! { [ -s "$RESULTS" ] && python3 -c 'import json, sys; json.load(open(sys.argv[1]))["tests"]' \
        "$RESULTS" 2>/dev/null; }; then
    echo "grading did not finish (exit status $status); writing a results.json with score 0"
    if ! python3 - "$RESULTS" "$LOG" "$status" <<'PY'
import json
import sys

results, log, status = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    with open(log, errors="replace") as handle:
        tail = handle.read()[-4000:].strip()
except OSError:
    tail = ""
output = ("The autograder could not grade this submission (exit status " + status + "), so "
          "the score is 0. Check that you submitted your task files, as a workspace "
          "(task1_memory/solution.py, ...) or flat (task1_memory.py, ...), and tell your "
          "instructor if this persists.")
if tail:
    output += "\n\nWhat the grader said:\n" + tail
with open(results, "w") as handle:
    json.dump({"score": 0, "execution_time": 0, "output": output, "output_format": "text",
               "visibility": "visible", "stdout_visibility": "hidden", "tests": []},
              handle, indent=2)
PY
    then
        cat >"$RESULTS" <<'JSON'
{"score": 0, "execution_time": 0, "output_format": "text", "visibility": "visible",
 "output": "The autograder could not run, so the score is 0. Please tell your instructor.",
 "stdout_visibility": "hidden", "tests": []}
JSON
    fi
fi
rm -rf "$WORK"
exit 0
"""


def build_autograder_zip(path: Path) -> Path:
    """Write Gradescope's autograder zip (setup.sh, run_autograder, the project) to `path`."""
    path = Path(path).expanduser()
    files = sorted(project_files(PROJECT_ROOT))
    part = path.with_name(path.name + ".part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed, so a failed build never leaves a half zip at `path`.
        with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as archive:
            _add_script(archive, "setup.sh", SETUP_SH)
            _add_script(archive, "run_autograder", RUN_AUTOGRADER)
            for file in files:
                relative = file.relative_to(PROJECT_ROOT).as_posix()
                archive.write(file, f"{ZIP_PROJECT_DIR}/{relative}")
        part.replace(path)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise InvalidInput(f"cannot write the autograder zip {path}: "
                           f"{exc.strerror or exc}") from exc
    return path


def project_files(root: Path) -> Iterator[Path]:
    """The project files the autograder installs: metadata and packages, without caches."""
    missing = [name for name in (*PROJECT_FILES, *PROJECT_PACKAGES) if not (root / name).exists()]
    if missing:
        raise InvalidInput(f"the autograder zip is built from a source checkout of support-agent, "
                           f"and {root} has no {', '.join(missing)}; run this command from the "
                           "project's own virtualenv (pip install -e .)")
    for name in PROJECT_FILES:
        yield root / name
    for package in PROJECT_PACKAGES:
        for file in (root / package).rglob("*"):
            parts = file.relative_to(root).parts
            if (file.is_file() and not SKIPPED_DIRS.intersection(parts)
                    and not any(parts[:len(folder)] == folder for folder in SKIPPED_FOLDERS)
                    and file.name not in SKIPPED_NAMES and file.suffix not in SKIPPED_SUFFIXES):
                yield file


def _add_script(archive: zipfile.ZipFile, name: str, text: str) -> None:
    """Add an executable script (Gradescope runs run_autograder directly)."""
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (stat.S_IFREG | 0o755) << 16
    archive.writestr(info, text)
