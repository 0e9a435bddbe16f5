"""Precision per standing query from users' marks (``feedwatch eval --feedback``): which queries need rewording."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..memory.backend import Memory

__all__ = ["feedback_report", "format_feedback"]


def feedback_report(memory: Memory) -> dict[str, Any]:
    """Per query: alerts remembered, marks, right, wrong and precision (right / marked; null with no marks)."""
    marks = memory.feedback()
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"right": 0, "wrong": 0})
    for mark in marks:
        counts[mark.query_id]["right" if mark.match else "wrong"] += 1
    queries: dict[str, Any] = {}
    for query_id in sorted(counts):
        right, wrong = counts[query_id]["right"], counts[query_id]["wrong"]
        queries[query_id] = {
            "marked": right + wrong,
            "right": right,
            "wrong": wrong,
            "precision": round(right / (right + wrong), 3),
        }
    total_right = sum(q["right"] for q in queries.values())
    return {
        "memory": str(memory.path),
        "marked": len(marks),
        "precision": round(total_right / len(marks), 3) if marks else None,
        "queries": queries,
    }


def format_feedback(report: dict[str, Any]) -> str:
    if not report["marked"]:
        return (
            f"no alert in {report['memory']} has been marked yet: mark them right or wrong on the page, with "
            "POST /api/alerts/ID/feedback, or over MQTT (<prefix>/alerts/ID/feedback)"
        )
    lines = [f"marks in {report['memory']}", f"{'query':<24} {'marked':>6} {'right':>6} {'wrong':>6} {'precision':>9}"]
    for query_id, q in report["queries"].items():
        lines.append(f"{query_id:<24} {q['marked']:>6} {q['right']:>6} {q['wrong']:>6} {q['precision']:>9.2f}")
    lines.append(f"{'all':<24} {report['marked']:>6} {'':>6} {'':>6} {report['precision']:>9.2f}")
    low = [qid for qid, q in report["queries"].items() if q["marked"] >= 3 and q["precision"] < 0.5]
    if low:
        lines.append(f"mostly wrong, worth rewording or a higher threshold: {', '.join(low)}")
    return "\n".join(lines)
