"""The early-stopping rule for one seed's validation curve. Pure Python: the trainer applies it
after every epoch, and benchmarks/early_stopping.py replays it on finished curves.

Rule: after epoch e of E, a seed "cannot plausibly reach" the required accuracy r when

    max(curve) + (E - e) * max(gain, 0) + TOLERANCE < r,

where gain is the larger improvement of the last two epochs (the first epoch's is measured from
chance, 1 / classes). Learning curves under a fixed learning rate flatten as they go, so a recent
gain times the epochs left over-estimates what is still to come; taking two epochs keeps one
noisy dip from zeroing the estimate, and TOLERANCE absorbs validation noise (the standard error
of an accuracy near 0.95 on 5,000 images is 0.003). After the last epoch the rule is exact: the
final accuracy itself is compared. benchmarks/early_stopping.py measures how often it is wrong.

The rule was measured under a constant learning rate. Under the cosine schedule curves rise
late (the rate falls), so the trainer asks for the rule only after the last epoch (exact); the
seeds still race (the first trains alone), which is where most of the saving is.
"""

from __future__ import annotations

TOLERANCE = 0.01
RULE_VERSION = 2  # 1: last gain only (one dip could zero it)


def optimistic_final_accuracy(curve: list[float], epochs: int, num_classes: int = 10) -> float:
    """The most this seed is expected to reach by epoch `epochs`, given its curve so far."""
    if not curve:
        return 1.0
    done = len(curve)
    if done >= epochs:
        return curve[-1]
    points = [1.0 / num_classes] + list(curve)
    gain = max(max([b - a for a, b in zip(points, points[1:], strict=False)][-2:]), 0.0)
    return min(1.0, max(curve) + (epochs - done) * gain + TOLERANCE)


def stop_reason(
    curve: list[float],
    epochs: int,
    required: float,
    num_classes: int = 10,
    final: bool | None = None,
) -> str | None:
    """Why this seed should stop now, or None to keep training. `final`: the curve's last point
    was measured after the last epoch (default: the curve has `epochs` points)."""
    final = len(curve) >= epochs if final is None else final
    if final:
        if curve[-1] >= required:
            return None
        return (
            f"validation accuracy {curve[-1]:.4f} after all {epochs} epochs is below the "
            f"required {required:.4f}"
        )
    bound = optimistic_final_accuracy(curve, epochs, num_classes)
    if bound >= required:
        return None
    return (
        f"validation accuracy {curve[-1]:.4f} after epoch {len(curve)}/{epochs} cannot "
        f"plausibly reach the required {required:.4f} (optimistic bound {bound:.4f})"
    )


def required_accuracy(floor: float, size: float, completed: list[tuple[float, float]]) -> float:
    """What a new trial of `size` must reach to be feasible and possibly improve the front.

    `completed` holds (size, worst-case validation accuracy) of completed trials: a trial no
    better than one of them that is no larger is dominated, so the threshold is the floor or the
    best worst case among those, whichever is higher.
    """
    return max([floor] + [accuracy for other, accuracy in completed if other <= size])


# Promotion (multi-fidelity with one rung): a trial that misses the requirement at the search's
# epochs but whose error is at most this many times the allowed error is trained again with the
# full recipe. Measured on five 446-590-param MNIST models (benchmarks/fidelity.py, its run in
# BENCHMARKS.md): 20 epochs instead of 5 cut the worst seed's error to 0.63-0.89x for the three
# that then
# held the floor (their 5-epoch errors were 1.0-1.16x the allowed one), and the two whose errors
# were 1.5x and 2.1x still missed. 2.0 promoted too many trials that then missed (a 10-minute
# search spent 4x-long trainings on 1,400-1,555-param models that ended at 0.943-0.946).
PROMOTION_ERROR_RATIO = 1.5


def promotion_accuracy(required: float) -> float:
    """The least accuracy at the search's epochs that earns a trial the full recipe: its error
    (1 - accuracy) at most PROMOTION_ERROR_RATIO times the error `required` allows."""
    return max(0.0, 1.0 - PROMOTION_ERROR_RATIO * (1.0 - required))
