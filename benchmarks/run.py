"""Benchmarks (not tests): planforge's commands against the unavoidable imports and against its peers.

Every figure is the median of whole-process runs, interleaved with a baseline measured in the same run
(`python -c "import jinja2, yaml, jsonschema, typer"`), because the machine is shared and noisy: read
the ratios, not the seconds. Peak memory is the child's ru_maxrss (its own children included).

Two manifests at each size: synth.py's (few schemas) and schemaheavy.py's (about 4 $ref'ed schemas per
operation, nullable type lists, deep nesting, 10 operations per service). Commands, for each size:

- validate; check (output up to date); generate cold (fresh cache, fresh output folder); generate warm
  (warm cache, fresh output folder); generate no-op (warm cache, output up to date);
- the same feature's OpenAPI (one document, the services' paths and components merged) through
  openapi-generator (python-fastapi), fastapi-code-generator and datamodel-code-generator, when installed
  in the benchmark's own venv (benchmarks/requirements.txt; `make bench` makes it).

    .venv/bin/python benchmarks/run.py --sizes 10,100,500,1000,3000 --runs 5 --json bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from schemaheavy import schema_heavy_manifest
from synth import synthetic_manifest

REPO = Path(__file__).resolve().parent.parent
PLANFORGE = [sys.executable, "-m", "planforge"]
BASELINE = [sys.executable, "-c", "import jinja2, yaml, jsonschema, typer"]
BENCH_VENV = REPO / ".venv-bench" / "bin"
MANIFESTS: dict[str, Callable[[int], str]] = {"schema-heavy": schema_heavy_manifest, "synth": synthetic_manifest}


@dataclass
class Command:
    """One measured command: how to prepare a run (fresh folders), and the process to time."""

    name: str
    argv: Callable[[Path], list[str]]
    prepare: Callable[[Path], dict[str, str]] = lambda run: {}
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)


def measured(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system, its children included) and peak resident KiB of one whole
    process; fails loudly if it fails. CPU time is the steadier figure on a shared, overloaded machine."""
    started = time.perf_counter()
    child = subprocess.Popen(
        argv, cwd=REPO, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert child.stderr is not None
    errors = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({child.returncode}): {errors.decode(errors='replace')[-2000:]}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def interleaved(commands: list[Command], runs: int, work: Path) -> None:
    """Run every command `runs` times, round-robin, so noise hits all of them alike."""
    for index in range(runs):
        for command in commands:
            run = work / f"{command.name.replace(' ', '-')}-{index}"
            run.mkdir(parents=True)
            env = command.prepare(run)
            seconds, cpu, rss = measured(command.argv(run), env)
            command.wall.append(seconds)
            command.cpu.append(cpu)
            command.rss_kib.append(rss)
            shutil.rmtree(run, ignore_errors=True)


def peers() -> dict[str, Callable[[Path, Path], list[str]]]:
    """The peer generators installed in the benchmark venv: name -> argv(spec, run folder)."""
    found: dict[str, Callable[[Path, Path], list[str]]] = {}
    if (BENCH_VENV / "openapi-generator-cli").exists():
        found["openapi-generator python-fastapi"] = lambda spec, run: [
            str(BENCH_VENV / "openapi-generator-cli"),
            "generate",
            "-g",
            "python-fastapi",
            "-i",
            str(spec),
            "-o",
            str(run / "out"),
            "--skip-validate-spec",
        ]
    if (BENCH_VENV / "fastapi-codegen").exists():
        found["fastapi-code-generator"] = lambda spec, run: [
            str(BENCH_VENV / "fastapi-codegen"),
            "--input",
            str(spec),
            "--output",
            str(run / "out"),
        ]
    if (BENCH_VENV / "datamodel-codegen").exists():
        found["datamodel-code-generator"] = lambda spec, run: [
            str(BENCH_VENV / "datamodel-codegen"),
            "--input",
            str(spec),
            "--input-file-type",
            "openapi",
            "--output",
            str(run / "models.py"),
            "--output-model-type",
            "pydantic_v2.BaseModel",
        ]
    return found


def peer_versions() -> dict[str, str]:
    """Versions of the packages in the benchmark venv (as pinned in benchmarks/requirements.txt)."""
    pip = BENCH_VENV / "pip"
    if not pip.exists():
        return {}
    listed = subprocess.run([str(pip), "list", "--format", "json"], capture_output=True, text=True, check=False)
    wanted = {"openapi-generator-cli", "fastapi-code-generator", "datamodel-code-generator"}
    try:
        return {p["name"]: p["version"] for p in json.loads(listed.stdout) if p["name"].lower() in wanted}
    except json.JSONDecodeError:
        return {}


def feature_openapi(manifest: Path, spec: Path) -> None:
    """The feature's OpenAPI, made in a child process so that this one stays small: Linux counts the
    parent's resident size at fork into each child's ru_maxrss."""
    made = subprocess.run([sys.executable, __file__, "--openapi", str(manifest), str(spec)], capture_output=True)
    if made.returncode != 0:
        raise RuntimeError(made.stderr.decode(errors="replace")[-500:])


def _write_feature_openapi(manifest: Path, spec: Path) -> None:
    """One OpenAPI document of the whole feature: every service's paths and components merged."""
    from planforge.build import build_model
    from planforge.frozen import thaw
    from planforge.loader import load_manifest
    from planforge.targets import openapi

    model = build_model(load_manifest(manifest), manifest.name)
    merged: dict[str, Any] = {}
    for service in model.services:
        document = thaw(openapi.document(model, service))
        if not merged:
            merged = document
            merged["info"]["title"] = model.name
            continue
        merged["paths"].update(document.get("paths", {}))
        for kind, items in document.get("components", {}).items():
            merged.setdefault("components", {}).setdefault(kind, {}).update(items)
    spec.write_text(json.dumps(merged, indent=1))


def size_commands(manifest: Path, spec: Path, warm_cache: Path, ready: Path, with_peers: bool = True) -> list[Command]:
    """The commands measured at one size: baseline, planforge's, then the peers' (unless with_peers is false)."""
    path = str(manifest)

    def fresh_cache(run: Path) -> dict[str, str]:
        return {"PLANFORGE_CACHE_DIR": str(run / "cache")}

    def warm(run: Path) -> dict[str, str]:
        return {"PLANFORGE_CACHE_DIR": str(warm_cache)}

    commands = [
        Command("baseline imports", lambda run: BASELINE),
        Command("validate", lambda run: [*PLANFORGE, "validate", path], warm),
        Command("check (up to date)", lambda run: [*PLANFORGE, "check", path, "-o", str(ready)], warm),
        Command("generate cold", lambda run: [*PLANFORGE, "generate", path, "-o", str(run / "out")], fresh_cache),
        Command("generate warm", lambda run: [*PLANFORGE, "generate", path, "-o", str(run / "out")], warm),
        Command("generate no-op", lambda run: [*PLANFORGE, "generate", path, "-o", str(ready)], warm),
    ]
    for name, argv in (peers() if with_peers else {}).items():
        commands.append(Command(name, lambda run, argv=argv: argv(spec, run)))  # type: ignore[misc]
    return commands


def bench_size(kind: str, size: int, runs: int, work: Path, with_peers: bool = True) -> dict[str, Any]:
    """Medians (wall, peak memory) of every command on the `kind` manifest of `size` operations."""
    folder = work / f"{kind}-{size}"
    folder.mkdir()
    manifest = folder / "feature.yaml"
    manifest.write_text(MANIFESTS[kind](size))
    spec = folder / "openapi.json"
    try:
        feature_openapi(manifest, spec)
    except Exception as exc:  # the loader refuses it (too large): reported, not measured
        return {"skipped": str(exc)[-500:]}
    warm_cache, ready = folder / "warm-cache", folder / "ready"
    env = {**os.environ, "PLANFORGE_CACHE_DIR": str(warm_cache)}
    first = subprocess.run([*PLANFORGE, "generate", str(manifest), "-o", str(ready)], capture_output=True, env=env)
    if first.returncode != 0:  # e.g. PF002/PF007: the manifest is beyond planforge's input limits
        return {"skipped": first.stderr.decode(errors="replace").strip()[-500:]}
    commands = size_commands(manifest, spec, warm_cache, ready, with_peers)
    interleaved(commands, runs, folder / "runs")
    base = statistics.median(commands[0].wall)
    return {
        command.name: {
            "median_s": statistics.median(command.wall),
            "ratio_to_baseline": statistics.median(command.wall) / base,
            "cpu_s": statistics.median(command.cpu),
            "cpu_ratio_to_baseline": statistics.median(command.cpu) / statistics.median(commands[0].cpu),
            "peak_mib": statistics.median(command.rss_kib) / 1024,
            "samples_s": command.wall,
        }
        for command in commands
    }


def example_cold_start(runs: int, work: Path) -> dict[str, Any]:
    """The user-accounts example: validate, check, generate cold / no-op, against the import baseline."""
    manifest = REPO / "examples" / "user-accounts" / "feature.yaml"
    spec = work / "example-openapi.json"
    feature_openapi(manifest, spec)
    warm_cache, ready = work / "example-warm-cache", work / "example-ready"
    env = {**os.environ, "PLANFORGE_CACHE_DIR": str(warm_cache)}
    subprocess.run([*PLANFORGE, "generate", str(manifest), "-o", str(ready)], check=True, capture_output=True, env=env)
    commands = [c for c in size_commands(manifest, spec, warm_cache, ready) if c.name in _EXAMPLE_COMMANDS]
    interleaved(commands, runs, work / "example-runs")
    base = statistics.median(commands[0].wall)
    return {
        c.name: {
            "median_s": statistics.median(c.wall),
            "ratio_to_baseline": statistics.median(c.wall) / base,
            "cpu_s": statistics.median(c.cpu),
            "cpu_ratio_to_baseline": statistics.median(c.cpu) / statistics.median(commands[0].cpu),
        }
        for c in commands
    }


_EXAMPLE_COMMANDS = {"baseline imports", "validate", "check (up to date)", "generate cold", "generate no-op"}


def growth(results: dict[str, dict[int, dict[str, Any]]]) -> dict[str, dict[str, dict[str, float]]]:
    """Least-squares fit of median wall time = fixed + per_operation * operations, per manifest and command."""
    fits: dict[str, dict[str, dict[str, float]]] = {}
    for kind, sizes in results.items():
        if len(sizes) < 2:
            continue
        xs = sorted(x for x in sizes if "skipped" not in sizes[x])
        if len(xs) < 2:
            continue
        for name in sizes[xs[0]]:
            ys = [sizes[x][name]["median_s"] for x in xs]
            mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
            slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum(
                (x - mean_x) ** 2 for x in xs
            )
            fixed = mean_y - slope * mean_x
            fits.setdefault(kind, {})[name] = {"fixed_s": fixed, "per_operation_ms": slope * 1000}
    return fits


def print_table(kind: str, size: int, figures: dict[str, Any]) -> None:
    """One size's figures, as a table."""
    print(f"\n{kind}, {size} operations (median of interleaved whole-process runs)")
    if "skipped" in figures:
        print(f"  skipped: {figures['skipped']}")
        return
    print(f"  {'command':34s} {'wall s':>8s} {'x baseline':>10s} {'cpu s':>8s} {'x baseline':>10s} {'peak MiB':>9s}")
    for name, f in figures.items():
        print(
            f"  {name:34s} {f['median_s']:8.3f} {f['ratio_to_baseline']:10.2f} {f['cpu_s']:8.3f}"
            f" {f['cpu_ratio_to_baseline']:10.2f} {f['peak_mib']:9.0f}"
        )
    generator = figures.get("openapi-generator python-fastapi")
    if generator:
        cold = figures["generate cold"]["median_s"]
        print(f"  openapi-generator / planforge generate cold: {generator['median_s'] / cold:.2f}x")


def byte_compile() -> None:
    """Byte-compile planforge's own modules first, as pip does when it installs a wheel: the peers and the
    baseline's packages are installed compiled, and an environment with PYTHONDONTWRITEBYTECODE set would
    otherwise have every planforge process compile its source again."""
    folders = [REPO / "src", REPO / "runtime" / "src", REPO / "testkit" / "src"]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *map(str, folders)], check=True)


def main() -> None:
    """Run the benchmarks, print the tables and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="10,100,500,1000,3000", help="operations, synthetic manifest")
    # ~4 schemas an operation: 3,000 operations make a 6.4 MB manifest, within the loader's limits (16 MiB)
    parser.add_argument("--heavy-sizes", default="10,100,500,1000,3000", help="operations, schema-heavy manifest")
    parser.add_argument("--kinds", default="schema-heavy,synth")
    parser.add_argument("--peer-sizes", default="", help="run the peers at these sizes only (default: every size)")
    parser.add_argument("--work", type=Path, default=REPO / ".bench-work", help="folder for the runs' files")
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results.json")
    args = parser.parse_args()
    byte_compile()
    results: dict[str, dict[int, dict[str, Any]]] = {}
    report: dict[str, Any] = {"runs": args.runs, "python": sys.version.split()[0], "peers": peer_versions()}
    # The work folder is where a project's output folder would be: under the repository, not /tmp (on the
    # machine these figures come from, /tmp created files about 20x slower than the rest of the same disk).
    args.work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="run-", dir=args.work) as tmp:
        report["example"] = example_cold_start(args.runs, Path(tmp))
        print("user-accounts example (median of interleaved whole-process runs)")
        for name, f in report["example"].items():
            print(
                f"  {name:34s} {f['median_s']:8.3f} s {f['ratio_to_baseline']:6.2f}x baseline,"
                f" cpu {f['cpu_s']:7.3f} s {f['cpu_ratio_to_baseline']:6.2f}x"
            )
        for kind in args.kinds.split(","):
            for size in (int(s) for s in (args.heavy_sizes if kind == "schema-heavy" else args.sizes).split(",")):
                with_peers = not args.peer_sizes or str(size) in args.peer_sizes.split(",")
                figures = bench_size(kind, size, args.runs, Path(tmp), with_peers)
                results.setdefault(kind, {})[size] = figures
                print_table(kind, size, figures)
                sys.stdout.flush()
    report["results"] = results
    report["growth"] = growth(results)
    print("\ngrowth: median wall = fixed + per-operation cost (least squares over the sizes)")
    for kind, fits in report["growth"].items():
        for name, fit in fits.items():
            print(f"  {kind:13s} {name:34s} {fit['fixed_s']:7.3f} s + {fit['per_operation_ms']:7.3f} ms/operation")
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nresults: {args.json}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--openapi"]:
        _write_feature_openapi(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        main()
