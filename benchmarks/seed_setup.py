"""What one seed's fixed cost in slimtune's trainer is made of: a profile of `train_seeds` on a
few training images (so the training itself is negligible), after warm-up.

    python benchmarks/seed_setup.py [--config reference|light|tiny|separable-bn|PRESET|JSON ...]
        [--train-size 256] [--rounds 3] [--threads 1] [--out OUT.json]

Per model (repeat --config): wall seconds per seed (one seed, one epoch of --train-size images,
the validation split of 5,000) and, from Python's profiler over the same calls, the seconds per
seed spent tracing TensorFlow graphs, in the validation pass (its tracing included), building
the Keras model and packing it. The profiler slows Python a little; the shares are what counts.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from pathlib import Path
from typing import Any

import _common  # noqa: F401  (puts the repository on sys.path)

# (what, file name ending, function name) in the profile
PARTS = (
    ("tracing graphs", "tracing_compilation.py", "trace_function"),
    ("validation pass (with its tracing)", "_trainer.py", "packed_accuracy"),
    ("building the Keras model", "_model.py", "build_model"),
    ("packing the network", "_packed.py", "__init__"),
)


def profile_seed(config: Any, train: Any, val: Any, rounds: int, threads: int) -> dict[str, Any]:
    from slimtune.search import train_seeds
    from slimtune.spaces import Recipe

    recipe = Recipe(epochs=1, batch_size=128)
    for _ in range(2):  # warm-up: the first calls load kernels
        train_seeds(config, train, val, recipe, [0], threads=threads, keep_model=False)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(rounds):
        train_seeds(config, train, val, recipe, [0], threads=threads, keep_model=False)
    profiler.disable()
    wall = (time.perf_counter() - started) / rounds
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    parts = {}
    for what, file_end, function in PARTS:
        parts[what] = round(
            sum(
                cumulative
                for (file, _, name), (_, _, _, cumulative, _) in stats.items()
                if file.endswith(file_end) and name == function
            )
            / rounds,
            3,
        )
    return {"config": config.summary(), "seconds_per_seed": round(wall, 3), "parts": parts}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config",
        action="append",
        help="a model: reference (default), light, tiny, separable-bn, a preset "
        "or JSON; repeat it to measure several in one run",
    )
    parser.add_argument("--train-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    from slimtune.search import configure_threads
    from slimtune.search import resolve_dataset as resolve

    configure_threads(args.threads)
    train, val = resolve("mnist", _common.data_dir()).train_val(5000, args.train_size)
    result: dict[str, Any] = {
        "machine": _common.machine(),
        "train_images": len(train.x),
        "rounds": args.rounds,
        "models": [],
    }
    for text in args.config or ["reference"]:
        model = profile_seed(_common.load_config(text), train, val, args.rounds, args.threads)
        result["models"].append(model)
        _common.write_json(args.out, result)
        print(
            f"{model['config']}: {model['seconds_per_seed']} s per seed; "
            + ", ".join(f"{what} {s} s" for what, s in model["parts"].items())
        )
    return result


if __name__ == "__main__":
    main()
