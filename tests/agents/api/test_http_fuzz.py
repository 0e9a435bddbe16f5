"""The HTTP API fuzzed with schemathesis from its own OpenAPI document, against a running service with a memory to
read: every check schemathesis has (no server error, status codes, content types, headers and bodies as the
schema says, bad data refused, good data taken), then the service is still healthy and its own count of 5xx
responses is zero. The number of requests is bounded (``FEEDWATCH_FUZZ_EXAMPLES`` per operation, default 20);
the seed is random and printed, so a failure can be replayed with ``--seed``."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from pathlib import Path

import httpx
import pytest
from schemathesis.config import ChecksConfig

from agents import validate_config
from agents.bench.common import free_port
from tests.agents.api.test_http_api import _remember
from tests.helpers import PERSON_CLIP, scaled, served, wait_until

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("FEEDWATCH_FUZZ_EXAMPLES", "20"))
# The statuses schemathesis counts as refusing invalid data (its own list, as the installed version has it), and 413.
_REFUSALS = [*ChecksConfig().negative_data_rejection.expected_statuses, "413"]


@pytest.mark.timeout(900)
async def test_schemathesis_finds_no_server_error_and_every_response_matches_the_schema(tmp_path: Path) -> None:
    await _remember(tmp_path)  # moments and thumbnails exist, so reads reach real rows
    config = validate_config(
        {
            "cameras": [{"id": "lobby", "url": str(PERSON_CLIP), "realtime": True, "loop": True}],
            "queries": [{"id": "person", "text": "a person"}],
            "scorer": {"backend": "activity"},
            "memory": {"path": str(tmp_path / "memory")},
            "http": {"port": free_port()},
        }
    )
    service, http = served(config, retry=True)
    task = asyncio.create_task(service.run())
    seed = int(os.environ.get("FEEDWATCH_FUZZ_SEED") or random.randrange(2**31))
    report = tmp_path / "schemathesis.json"
    # A body over http.max_body_kb is refused with the 413 the schema documents, before it is parsed: for a
    # schema-violating body (polygons of more points than allowed, say) that is as much a refusal as a 422.
    settings = tmp_path / "schemathesis.toml"
    settings.write_text(f"[checks.negative_data_rejection]\nexpected-statuses = {json.dumps(_REFUSALS)}\n")
    try:
        await wait_until(lambda: http is not None and http.bound_port is not None, what="the HTTP server")
        assert http is not None
        base = f"http://127.0.0.1:{http.bound_port}"
        fuzz = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "schemathesis.cli", "--config-file", str(settings),
            "run", f"{base}/openapi.json", "--checks", "all",
            "--exclude-path", "/api/events",  # an endless event stream: read by the page tests instead
            "--max-examples", str(EXAMPLES), "--seed", str(seed), "--workers", "1",
            "--report", "json", "--report-json-path", str(report),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(fuzz.communicate(), scaled(800))
        async with httpx.AsyncClient(base_url=base) as web:
            metrics = (await web.get("/metrics")).text
            health = (await web.get("/api/health")).json()
    finally:
        service.stop()
        await asyncio.wait_for(task, scaled(30))
    text = output.decode(errors="replace")
    assert fuzz.returncode == 0, f"seed {seed}:\n{text[-6000:]}"
    run = json.loads(report.read_text())
    cases = run["test_cases"]
    assert run["complete"] and not run["failures"] and not run["errors"], run
    assert cases["generated"] >= 10 * EXAMPLES and cases["with_failures"] == 0 and cases["errored"] == 0
    counted = {
        line.split('"')[1]: float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("feedwatch_http_responses_total{")
    }
    assert counted.get("5xx", 0.0) == 0.0 and sum(counted.values()) >= cases["generated"]
    assert health["status"] == "ok" and health["restarts"] == {}
    print(f"schemathesis: seed {seed}, {cases['generated']} test cases, responses by class {counted}")
