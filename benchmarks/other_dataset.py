"""The default search on a dataset of another shape, size and difficulty than MNIST: the 8x8
handwritten digits that scikit-learn ships (1,797 images, 16 grey levels), written as a
Keras-layout .npz, searched with slimtune's defaults (nothing MNIST-specific is passed).

    python benchmarks/other_dataset.py [--floor 0.9] [--timeout-s 600] [--test-size 297]
        [--out DIR] [-- extra slimtune search flags]

The first 1,500 images (shuffled with a fixed seed) are the training file, the last
--test-size the test file. slimtune derives everything else from the data: the 8x8x1 input and
10 classes, held-out validation and recheck splits of a twelfth of the training file (125 images
each) and, through the binomial margin on 125 images, a wider margin above the floor. Prints the
selection rule slimtune chose and its pick (params, worst-case validation, recheck and test
accuracy), and writes the result value to DIR/result.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

import _common

TRAIN_IMAGES = 1500


def write_digits(folder: Path, test_size: int) -> Path:
    """scikit-learn's digits as uint8 (N, 8, 8) images scaled from 0-16 to 0-255."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    x = np.clip(digits.images[order] * 16, 0, 255).astype(np.uint8)
    y = digits.target[order].astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "digits.npz"
    end = TRAIN_IMAGES + test_size
    np.savez(
        path,
        x_train=x[:TRAIN_IMAGES],
        y_train=y[:TRAIN_IMAGES],
        x_test=x[TRAIN_IMAGES:end],
        y_test=y[TRAIN_IMAGES:end],
    )
    return path


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--floor", type=float, default=0.9)
    parser.add_argument("--timeout-s", type=float, default=600)
    parser.add_argument("--test-size", type=int, default=297)
    parser.add_argument("--out", type=Path, default=Path("runs/benchmarks/other_dataset"))
    parser.add_argument("extra", nargs="*", help="more `slimtune search` flags, after --")
    args = parser.parse_args(argv)

    data = write_digits(args.out / "data", args.test_size)
    command = [
        sys.executable,
        "-m",
        "slimtune",
        "search",
        "--dataset",
        str(data.parent),
        "--min-accuracy",
        str(args.floor),
        "--trials",
        "100000",
        "--timeout",
        str(args.timeout_s),
        "--out",
        str(args.out / "search"),
        *args.extra,
    ]
    print(" ".join(command), flush=True)
    done = subprocess.run(command, cwd=_common.REPO)
    result = json.loads((args.out / "search" / "result.json").read_text())
    chosen, rule = result["chosen"], result["selection"]
    print(
        f"selection: validation {rule['val_size']} images, floor {rule['validation_floor']:.4f}; "
        f"recheck {rule['recheck_size']} images, floor {rule['recheck_floor']:.4f}; epochs "
        f"{rule['epochs']}, full {rule['full_epochs']}"
    )
    study = result["study"]
    print(
        f"trials: {study['n_complete']} complete, {study['n_pruned']} pruned, "
        f"{study['n_failed']} failed"
    )
    if chosen:
        print(
            f"pick {chosen['summary']} {chosen['footprint']['params']:,} params: worst val "
            f"{min(chosen['val_accuracies']):.4f}, recheck "
            f"{min(chosen['recheck_accuracies']):.4f}, test "
            f"{chosen['worst_case_test_accuracy']:.4f}"
        )
    else:
        print(f"no pick: {result['message']}")
    summary = {
        "machine": _common.machine(),
        "floor": args.floor,
        "timeout_s": args.timeout_s,
        "returncode": done.returncode,
        "selection": rule,
        "study": study,
        "chosen": chosen,
    }
    _common.write_json(args.out / "other_dataset.json", summary)
    return summary


if __name__ == "__main__":
    main()
