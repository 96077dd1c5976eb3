"""Benchmarks (not tests): cold-start cost against the unavoidable imports, and growth with manifest size.

Each figure is the median of several runs, interleaved with its baseline in the same run, because the
machine is shared and noisy: compare the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synth import synthetic_manifest

REPO = Path(__file__).resolve().parent.parent
BASELINE = [sys.executable, "-c", "import jinja2, yaml, jsonschema, typer"]


def timed(command: list[str]) -> float:
    """Wall time of one whole process, in seconds; fails loudly if the command fails."""
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=REPO)
    return time.perf_counter() - start


def medians(commands: dict[str, list[str]], runs: int) -> dict[str, float]:
    """Median wall time of each command, runs interleaved so noise hits all of them alike."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            samples[name].append(timed(command))
    return {name: statistics.median(values) for name, values in samples.items()}


def cold_start(runs: int, out: Path) -> None:
    """planforge validate/check/generate on the example vs. importing jinja2, yaml, jsonschema, typer."""
    example = "examples/user-accounts/feature.yaml"
    planforge = [sys.executable, "-m", "planforge"]
    subprocess.run([*planforge, "generate", example, "-o", str(out)], check=True, capture_output=True, cwd=REPO)
    commands = {
        "baseline imports": BASELINE,
        "validate": [*planforge, "validate", example],
        "check (all targets)": [*planforge, "check", example, "-o", str(out)],
        "generate (no change)": [*planforge, "generate", example, "-o", str(out)],
    }
    result = medians(commands, runs)
    base = result["baseline imports"]
    print(f"cold start, median of {runs} runs (user-accounts example)")
    for name, seconds in result.items():
        print(f"  {name:24s} {seconds * 1000:8.1f} ms   {seconds / base:5.2f}x baseline")


def growth(sizes: list[int], runs: int, work: Path) -> None:
    """validate and generate of synthetic manifests of growing size, whole process."""
    planforge = [sys.executable, "-m", "planforge"]
    print(f"growth with manifest size, median of {runs} runs")
    print(f"  {'routes':>7s} {'validate ms':>12s} {'generate ms':>12s} {'generate ms/route':>18s}")
    previous, prev_size = 0.0, 0
    for size in sizes:
        manifest = work / f"synthetic-{size}.yaml"
        manifest.write_text(synthetic_manifest(size))
        out = work / f"out-{size}"
        result = medians(
            {
                "validate": [*planforge, "validate", str(manifest)],
                "generate": [*planforge, "generate", str(manifest), "-o", str(out), "--dry-run"],
            },
            runs,
        )
        per_route = result["generate"] / size * 1000
        note = f"  (x{result['generate'] / previous:.2f} for x{size // prev_size} routes)" if previous else ""
        figures = f"{result['validate'] * 1000:12.1f} {result['generate'] * 1000:12.1f} {per_route:18.2f}"
        print(f"  {size:7d} {figures}{note}")
        previous, prev_size = result["generate"], size


def main() -> None:
    """Run both benchmarks and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--sizes", default="10,100,1000")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cold_start(args.runs, Path(tmp) / "out")
        growth([int(s) for s in args.sizes.split(",")], max(3, args.runs // 2), Path(tmp))


if __name__ == "__main__":
    main()
