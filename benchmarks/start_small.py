"""The initial design and the invocation-wide --timeout, side by side: the default `slimtune
search` with `--initial-design small` against `--initial-design random`, both started at the
same moment, each on one worker (one core), the same seed, floor and --timeout.

    python benchmarks/start_small.py [--floor 0.95] [--timeout-min 15] [--repeats 2]
        [--cpu native|avx2] [--out DIR] [-- extra slimtune search flags]

`--cpu avx2` stands in for a CPU without AVX-512 or bfloat16 (TF_ENABLE_ONEDNN_OPTS=0,
ONEDNN_MAX_CPU_ISA=AVX2; slimtune then trains in float32). Repeat r uses --seed r for both.

Printed per run and as medians per design: the invocation's wall time against its --timeout,
the time from its start to its first feasible trial (validation worst case at or above the
validation floor) and that trial's size, trials finished, and the pick: params and its worst
test accuracy, float and int8 (the pick is confirmed inside the timeout).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import REPO, data_dir, machine, write_json

DESIGNS = ("small", "random")
AVX2 = {"TF_ENABLE_ONEDNN_OPTS": "0", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def command(design: str, repeat: int, folder: Path, args: argparse.Namespace) -> list[str]:
    data = data_dir()
    return [
        sys.executable,
        "-m",
        "slimtune",
        "search",
        *(["--data-dir", str(data)] if data else []),
        "--min-accuracy",
        str(args.floor),
        "--timeout",
        str(args.timeout_min * 60),
        "--workers",
        "1",
        "--seed",
        str(repeat),
        "--initial-design",
        design,
        "--out",
        str(folder),
        *args.extra,
    ]


def first_feasible(folder: Path, started: float, floor: float) -> tuple[float, int] | None:
    """(seconds from the invocation's start, params) of its first trial to reach `floor`."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{folder / 'optuna.db'}"
    (name,) = optuna.get_all_study_names(storage)
    study = optuna.load_study(study_name=name, storage=storage)
    done = [
        t
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if t.values[0] >= floor
    ]
    if not done:
        return None
    first = min(done, key=lambda t: t.datetime_complete)
    return first.datetime_complete.timestamp() - started, first.user_attrs["footprint"]["params"]


def summarise(folder: Path, started: float, wall: float, rc: int) -> dict[str, Any]:
    result = json.loads((folder / "result.json").read_text())
    chosen = result["chosen"] or {}
    feasible = first_feasible(folder, started, result["selection"]["validation_floor"])
    study = result["study"]
    return {
        "rc": rc,
        "wall_s": round(wall, 1),
        "first_feasible_s": round(feasible[0], 1) if feasible else None,
        "first_feasible_params": feasible[1] if feasible else None,
        "trials": study["n_complete"] + study["n_pruned"],
        "pick_params": chosen.get("footprint", {}).get("params"),
        "pick_test_float": chosen.get("worst_case_test_accuracy"),
        "pick_test_int8": chosen.get("worst_case_int8_test_accuracy"),
        "message": result["message"][:300],
    }


def run_pair(repeat: int, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    env = {**os.environ, **(AVX2 if args.cpu == "avx2" else {})}
    started, procs = {}, {}
    for design in DESIGNS:
        folder = args.out / f"r{repeat}-{design}"
        folder.mkdir(parents=True, exist_ok=True)
        log = open(folder / "search.log", "w")  # noqa: SIM115 (closed with the process)
        started[design] = time.time()
        procs[design] = (
            subprocess.Popen(
                command(design, repeat, folder, args), stdout=log, stderr=log, cwd=REPO, env=env
            ),
            log,
        )
    runs: dict[str, dict[str, Any]] = {}
    while len(runs) < len(procs):  # each wall time taken when that search ends, not in turn
        for design, (proc, log) in procs.items():
            if design in runs or proc.poll() is None:
                continue
            log.close()
            wall = time.time() - started[design]
            folder = args.out / f"r{repeat}-{design}"
            runs[design] = summarise(folder, started[design], wall, proc.returncode)
        time.sleep(1.0)
    return {design: runs[design] for design in DESIGNS}


def median(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--floor", type=float, default=0.95)
    parser.add_argument("--timeout-min", type=float, default=15.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cpu", choices=("native", "avx2"), default="native")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-start-small"))
    parser.add_argument("extra", nargs="*", help="more `slimtune search` flags, after --")
    args = parser.parse_args(argv)
    payload: dict[str, Any] = {"machine": machine(), "args": vars(args) | {"out": str(args.out)}}
    print(json.dumps(payload["machine"]))
    runs = []
    for repeat in range(args.repeats):
        pair = run_pair(repeat, args)
        runs.append(pair)
        for design, run in pair.items():
            print(f"repeat {repeat} {design:6}: {json.dumps(run)}", flush=True)
        payload["runs"] = runs
        write_json(args.out / "start_small.json", payload)
    limit = args.timeout_min * 60
    print(f"medians over {args.repeats} repeat(s), --timeout {limit:g}s, cpu {args.cpu}:")
    medians = {}
    for design in DESIGNS:
        rows = [pair[design] for pair in runs]
        medians[design] = {
            key: median([row[key] for row in rows])
            for key in ("wall_s", "first_feasible_s", "first_feasible_params", "trials")
            + ("pick_params", "pick_test_float", "pick_test_int8")
        }
        m = medians[design]
        print(
            f"  {design:6}: wall {m['wall_s']} s ({m['wall_s'] / limit:.2f}x the timeout), "
            f"first feasible at {m['first_feasible_s']} s ({m['first_feasible_params']} params), "
            f"{m['trials']} trials, pick {m['pick_params']} params "
            f"(test {m['pick_test_float']} float, {m['pick_test_int8']} int8)"
        )
    small, rand = medians["small"]["first_feasible_s"], medians["random"]["first_feasible_s"]
    if small and rand:
        print(f"time to first feasible, random / small: {rand / small:.2f}x")
    payload["medians"] = medians
    payload["finished"] = datetime.now().isoformat(timespec="seconds")
    write_json(args.out / "start_small.json", payload)
    return payload


if __name__ == "__main__":
    main()
