"""Load a learner's module by path, and describe their errors in terms of their own code."""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any


class LearnerError(Exception):
    """The learner's code raised, hung or died; the message is already learner-facing."""

    def __init__(self, message: str, *, not_implemented: bool = False,
                 timed_out: bool = False) -> None:
        super().__init__(message)
        self.not_implemented = not_implemented
        self.timed_out = timed_out


def load_module(path: Path) -> ModuleType:
    """Import the learner's file as a fresh module (their folder is importable too)."""
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = f"learner_{path.parent.name}_{path.stem}".replace("-", "_").replace(".", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LearnerError(f"{path} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def learner_function(path: Path, name: str) -> Any:
    """The function `name` of the learner's module, or a clear error if it is missing."""
    module = load_module(path)
    function = getattr(module, name, None)
    if not callable(function):
        raise LearnerError(f"{path.name} has no function {name}() (the brief says what it "
                           "takes and returns)")
    return function


def describe(exc: BaseException, learner_path: Path) -> str:
    """The error as a learner needs it: their own frames only, then the exception line."""
    if isinstance(exc, LearnerError):
        return str(exc)
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__)
              if _same_file(frame.filename, learner_path)]
    last_line = "".join(traceback.format_exception_only(exc)).strip()
    if isinstance(exc, NotImplementedError):
        where = f" ({learner_path.name}, line {frames[-1].lineno})" if frames else ""
        detail = f": {exc}" if str(exc) else ""
        return f"not implemented yet{where}{detail}"
    if not frames:
        return last_line
    lines = ["Traceback (your code only):"]
    for frame in frames[-6:]:
        lines.append(f'  File "{learner_path.name}", line {frame.lineno}, in {frame.name}')
        if frame.line:
            lines.append(f"    {frame.line}")
    lines.append(last_line)
    return "\n".join(lines)


def _same_file(name: str, path: Path) -> bool:
    try:
        return Path(name).resolve() == path.resolve()
    except OSError:
        return False
