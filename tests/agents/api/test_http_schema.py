"""What the OpenAPI document promises, the server keeps: a request its schema allows is not refused later."""

from __future__ import annotations

import json
import re

from agents.api.http_live import RegionsIn
from agents.api.http_memory import NOT_ONLY_SPACE
from agents.config.models import HttpConfig


def test_the_question_pattern_agrees_with_what_the_asker_strips() -> None:
    # Found by schemathesis: a question of U+0085 passed a schema of \S (JSON Schema's \s leaves it out) and was
    # then refused as empty by the asker (Python strips it). The pattern spells out Python's whitespace.
    pattern = re.compile(NOT_ONLY_SPACE)
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        assert bool(pattern.search(char)) is not char.isspace(), hex(code)


def test_the_largest_regions_body_the_schema_allows_fits_under_the_default_body_limit() -> None:
    # Found by schemathesis: 22 masks of 65-146 points came back 413, not 422, as 64 KiB was smaller than a valid
    # body could be. The largest valid one: 32 masks and 32 zones of 64 points, each number a float as long as
    # JSON writes one in [0, 1] (23 characters), zone names of 64 characters.
    longest = 1.2345678901234567e-100
    assert len(json.dumps(longest)) == 23 and 0 <= longest <= 1
    polygon = [[longest, longest]] * 64
    body = {"masks": [polygon] * 32, "zones": {f"{i:02d}".ljust(64, "z"): polygon for i in range(32)}}
    raw = json.dumps(body).encode()
    regions = RegionsIn.model_validate_json(raw)
    assert regions.masks is not None and len(regions.masks) == 32 and regions.zones and len(regions.zones) == 32
    limit = HttpConfig().max_body_kb * 1024
    assert len(raw) <= limit, f"the largest valid regions body is {len(raw)} bytes, the default limit {limit}"
