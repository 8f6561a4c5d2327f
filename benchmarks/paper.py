"""The seed paper's table, regenerated, and its kernel-size slicing figure.

    python benchmarks/paper.py [--seeds 5] [--epochs 5] [--train-size 55000]
                               [--pick 0.95=runs/s95/result.json ...] [--slicing] [--out DIR]

Trains paper-base, paper-final, paper-1x1 and slimtune's picks (`--pick FLOOR=result.json`, the
chosen configuration of a `slimtune search` at that floor) with the same seeds and one recipe,
reads the test split once per model, and prints a markdown table last: params, fp32/int8 weight
bytes, int8 peak activation bytes, MACs, worst and median test accuracy over seeds, and the
reduction vs paper-base. `--slicing` also trains the paper's slice (paper-final's head with a
kernel of 5x5, 3x3 or 1x1 and 1-8 filters) and writes DIR/kernel_slicing.png. Rows are saved to
DIR/paper.json as they finish; a rerun with the same settings skips them.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import _common

PAPER_MODELS = ("paper-base", "paper-final", "paper-1x1")
SLICE_KERNELS = (5, 3, 1)
SLICE_FILTERS = (1, 2, 4, 8)


def slice_config(kernel: int, filters: int) -> Any:
    from slimtune.spaces import CNNConfig, ConvBlock

    return CNNConfig((ConvBlock(kernel, filters, 4),), "flatten", 128, 0.5)


def pick_config(path: str) -> Any:
    """The chosen configuration of a result.json (or a JSON configuration given inline)."""
    from slimtune.spaces import CNNConfig

    if path.lstrip().startswith("{"):
        return CNNConfig.from_dict(json.loads(path))
    chosen = json.loads(Path(path).read_text())["chosen"]
    if chosen is None:
        raise SystemExit(f"{path}: the search chose no model (no configuration held its floor)")
    return CNNConfig.from_dict(chosen["config"])


def evaluate(
    name: str, config: Any, splits: tuple[Any, Any, Any], args: argparse.Namespace
) -> dict[str, Any]:
    from slimtune.search import train_seeds
    from slimtune.spaces import Recipe, footprint

    train, val, test = splits
    outcome = train_seeds(
        config,
        train,
        val,
        Recipe(epochs=args.epochs),
        list(range(args.seeds)),
        test=test,
        keep_model=False,
    )
    fp = footprint(config, (28, 28, 1), 10)
    return {
        "name": name,
        "summary": config.summary(),
        **fp.to_dict(),
        "test_accuracies": outcome.test_accuracies,
        "worst_test_accuracy": min(outcome.test_accuracies),
        "median_test_accuracy": statistics.median(outcome.test_accuracies),
        "train_time_s": round(outcome.train_time_s, 1),
        "precision": outcome.precision,
    }


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown rows; reductions are against paper-base's footprint, which needs no training (so
    they are there when `--models` leaves paper-base out)."""
    from slimtune.spaces import footprint, preset

    base = footprint(preset("paper-base"), (28, 28, 1), 10).to_dict()
    lines = [
        "| model | config | params | fp32 bytes | int8 bytes | peak act. bytes (int8) | MACs "
        "| worst test acc | median test acc | params reduction | int8 bytes reduction |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        reduction = (
            f"{base['params'] / r['params']:.0f}x",
            f"{base['weight_bytes_int8'] / r['weight_bytes_int8']:.0f}x",
        )
        summary = r["summary"].replace("|", "\\|")  # the summary's separators, escaped
        lines.append(
            f"| {r['name']} | {summary} | {r['params']:,} | "
            f"{r['weight_bytes_fp32']:,} | {r['weight_bytes_int8']:,} | "
            f"{r['peak_activation_bytes_int8']:,} | {r['macs']:,} | "
            f"{r['worst_test_accuracy']:.4f} | {r['median_test_accuracy']:.4f} | "
            f"{reduction[0]} | {reduction[1]} |"
        )
    return "\n".join(lines)


def plot_slicing(rows: list[dict[str, Any]], path: Path) -> None:
    """The slice rows as the seed paper draws them: test accuracy vs params per kernel size (the
    same figure code as a search's own kernel-size slicing)."""
    import matplotlib.pyplot as plt

    from slimtune.search import SlicePoint, kernel_slicing_png

    points = [
        SlicePoint(str(kernel), r["params"], r["median_test_accuracy"], r["worst_test_accuracy"])
        for kernel in SLICE_KERNELS
        for r in rows
        if r["name"].startswith(f"slice-k{kernel}-")
    ]
    fig = kernel_slicing_png(
        points,
        "params",
        "Kernel-size slicing: conv(k, f)-pool4-dense128-dense10",
        "test accuracy over seeds",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--train-size", type=int, default=55_000)
    parser.add_argument("--models", default=",".join(PAPER_MODELS))
    parser.add_argument("--pick", action="append", default=[], metavar="FLOOR=RESULT_JSON")
    parser.add_argument("--slicing", action="store_true")
    parser.add_argument("--slice-filters", default=",".join(map(str, SLICE_FILTERS)))
    parser.add_argument("--out", type=Path, default=Path("runs/benchmarks"))
    args = parser.parse_args(argv)

    from slimtune.search import configure_threads
    from slimtune.search import resolve_dataset as resolve
    from slimtune.spaces import preset

    configure_threads(1)
    source = resolve("mnist", _common.data_dir())
    train, val = source.train_val(5000, args.train_size)
    splits = (train, val, source.test())
    jobs = [(name, preset(name)) for name in args.models.split(",") if name]
    for pick in args.pick:
        floor, _, path = pick.partition("=")
        jobs.append((f"slimtune@{floor}", pick_config(path)))
    if args.slicing:
        jobs += [
            (f"slice-k{k}-f{f}", slice_config(k, f))
            for k in SLICE_KERNELS
            for f in map(int, args.slice_filters.split(","))
        ]
    store = args.out / "paper.json"
    settings = {"seeds": args.seeds, "epochs": args.epochs, "train_size": len(train.x)}
    saved = json.loads(store.read_text()) if store.exists() else {}
    rows = saved.get("rows", []) if saved.get("settings") == settings else []
    for name, config in jobs:
        if any(r["name"] == name and r["summary"] == config.summary() for r in rows):
            continue
        rows.append(evaluate(name, config, splits, args))
        print(
            f"{name} {rows[-1]['summary']}: worst test {rows[-1]['worst_test_accuracy']:.4f} "
            f"({rows[-1]['train_time_s']}s)",
            flush=True,
        )
        _common.write_json(
            store, {"machine": _common.machine(), "settings": settings, "rows": rows}
        )
    if args.slicing:
        plot_slicing(rows, args.out / "kernel_slicing.png")
        print(f"wrote {args.out / 'kernel_slicing.png'}")
    wanted = {name for name, _ in jobs}
    print(
        f"{settings['seeds']} seeds, {settings['epochs']} epochs, "
        f"{settings['train_size']:,} training images"
    )
    print(table([r for r in rows if r["name"] in wanted and not r["name"].startswith("slice")]))
    return rows


if __name__ == "__main__":
    main()
