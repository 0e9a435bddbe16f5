"""The shape of the code: packages export lazily and import cheaply. (The dependency contract between the packages
is checked by ``lint-imports``, part of the test command; see pyproject.toml.)"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from tests.helpers import ROOT

HEAVY = {"av", "faiss", "uvicorn", "fastapi", "aiomqtt", "paho", "torch", "transformers"}
LAZY_PACKAGES = [
    "streamer",
    "streamer.transport",
    "agents",
    "agents.memory",
    "agents.qa",
    "agents.service",
    "agents.api",
    "agents.eval",
]


@pytest.mark.parametrize(
    "module", ["agents", "streamer", "agents.config", "agents.cli", "agents.service", "agents.api"]
)
def test_importing_a_package_loads_nothing_heavy(module: str) -> None:
    code = f"import sys, json, {module}; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    loaded = set(json.loads(out.stdout))
    assert not loaded & HEAVY, f"import {module} loaded {sorted(loaded & HEAVY)}"


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_exported_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__, package
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = module.nothing_here
