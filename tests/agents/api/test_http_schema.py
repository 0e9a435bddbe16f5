"""What the OpenAPI document promises, the server keeps: a request its schema allows is not refused later."""

from __future__ import annotations

import re

from agents.api.http_memory import NOT_ONLY_SPACE


def test_the_question_pattern_agrees_with_what_the_asker_strips() -> None:
    # Found by schemathesis: a question of U+0085 passed a schema of \S (JSON Schema's \s leaves it out) and was
    # then refused as empty by the asker (Python strips it). The pattern spells out Python's whitespace.
    pattern = re.compile(NOT_ONLY_SPACE)
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        assert bool(pattern.search(char)) is not char.isspace(), hex(code)
