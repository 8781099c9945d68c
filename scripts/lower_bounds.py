"""Print every dependency pinned to its lower bound (`name>=X` as `name==X`), one a line.

Used by scripts/test-lowest. The test tools come with the dev extra's bounds; the browser
driver, the linter and uv are left out (the non-browser tests do not need them).
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

NOT_NEEDED = {"playwright", "ruff", "uv"}


def lower_bound_pins(pyproject: Path) -> list[str]:
    """`name[extras]==lower` for each dependency and test tool; a missing bound is an error."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    specs = project["dependencies"] + [
        spec for spec in project["optional-dependencies"]["dev"]
        if Requirement(spec).name not in NOT_NEEDED
    ]
    pins = []
    for spec in specs:
        requirement = Requirement(spec)
        lows = [s.version for s in requirement.specifier if s.operator == ">="]
        if len(lows) != 1:
            raise SystemExit(f"pyproject.toml: {spec!r} needs one lower bound (>=) to test")
        extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        pins.append(f"{requirement.name}{extras}=={lows[0]}")
    return pins


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    print("\n".join(lower_bound_pins(root / "pyproject.toml")))
