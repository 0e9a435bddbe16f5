"""Mutation testing of feedwatch's core: would the tests notice a change of behaviour?

Runs mutmut over the modules named in pyproject.toml's ``[tool.mutmut]`` (the alert policy, feedback, zones,
arming, the change gate, GenS's output parser and the MQTT outbox), each mutant against the fast tests that
cover it, then prints the score per module (killed or timed out, over all mutants) and every mutant that
survived, which ``mutmut show NAME`` prints as a diff. From the repository root:

    python tests/mutation.py            # every module (tens of minutes on 2 cores)
    python tests/mutation.py --quick    # the GenS output parser and the outbox (a few minutes)
    python tests/mutation.py --report   # the scores of the last run, without running anything

Exit status 1 when a mutant survived, or with ``--min-score S`` when a module scored under S (0-1).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["agents.scoring.gens_output.*", "streamer.transport.outbox.*"]
DETECTED = {"killed", "timeout"}


def _mutmut() -> list[str]:
    found = shutil.which("mutmut") or str(Path(sys.executable).with_name("mutmut"))
    if not Path(found).exists():
        sys.exit("mutation: mutmut is not installed (pip install mutmut)")
    return [found]


def results() -> dict[str, str]:
    """Every mutant's status from the last run: name -> killed, survived, timeout, no tests, ..."""
    out = subprocess.run([*_mutmut(), "results", "--all", "true"], cwd=ROOT, capture_output=True, text=True, check=True)
    statuses = {}
    for line in out.stdout.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            statuses[name] = status.strip()
    return statuses


def module_of(mutant: str) -> str:
    """``agents.alerting.policy.xǁAlertPolicyǁfeed__mutmut_3`` -> ``agents.alerting.policy``."""
    parts = mutant.split(".")
    return ".".join(p for p in parts[:-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the GenS output parser and the outbox")
    parser.add_argument("--report", action="store_true", help="report the last run's results; run nothing")
    parser.add_argument("--min-score", type=float, default=None, help="fail when a module scores under this")
    args = parser.parse_args()
    if not args.report:
        subprocess.run([*_mutmut(), "run", *(QUICK if args.quick else [])], cwd=ROOT, check=False)
    statuses = results()
    if args.quick:
        statuses = {m: s for m, s in statuses.items() if any(m.startswith(q[:-1]) for q in QUICK)}
    if not statuses:
        print("mutation: no results (run without --report first)")
        return 1
    by_module: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for mutant, status in statuses.items():
        by_module[module_of(mutant)][status] += 1
    print(f"{'module':<34}{'mutants':>8}{'killed':>8}{'timeout':>8}{'survived':>9}{'no tests':>9}{'score':>7}")
    worst = 1.0
    for module, counts in sorted(by_module.items()):
        total = sum(counts.values())
        score = sum(counts[s] for s in DETECTED) / total
        worst = min(worst, score)
        print(f"{module:<34}{total:>8}{counts['killed']:>8}{counts['timeout']:>8}{counts['survived']:>9}"
              f"{counts['no tests']:>9}{score:>7.2f}")  # fmt: skip
    survivors = sorted(m for m, s in statuses.items() if s == "survived")
    if survivors:
        print(f"\n{len(survivors)} survived (mutmut show NAME prints each):")
        print("\n".join(f"  {m}" for m in survivors))
    failed = bool(survivors) or (args.min_score is not None and worst < args.min_score)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
