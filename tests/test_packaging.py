"""What the package declares matches what the code is tested on."""

from __future__ import annotations

import tomllib
from importlib.metadata import version

from packaging.requirements import Requirement

from tests.helpers import ROOT


def _extra(name: str) -> dict[str, Requirement]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {r.name: r for r in map(Requirement, data["project"]["optional-dependencies"][name])}


def test_transformers_is_pinned_to_the_tested_range() -> None:
    """4.x lacks the modules and keywords the model code uses (dtype=, mm_token_type_ids); a 6.x is untested."""
    spec = _extra("models")["transformers"].specifier
    assert "4.57.1" not in spec and "6.0.0" not in spec
    assert version("transformers") in spec
