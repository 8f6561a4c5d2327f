"""On-the-fly augmentation of a training batch, inside the compiled epoch.

Each image gets its own random move (recipe `augment`, spaces.AUGMENTATIONS): "shift" translates
it by up to SHIFT_FRACTION of its width and height; "affine" also rotates it by up to
ROTATION_DEGREES and scales it by up to SCALE_FRACTION, about its centre. Pixels that come from
outside the image are its edge reflected (Keras' RandomTranslation default), bilinear between.

The draws come from a stateless generator keyed by (seed, epoch, step): a fresh draw per image,
per seed and per epoch, and a seed's images move exactly the same way whether it trains alone or
packed with other seeds (each replica's draws depend on its own seed only).
"""

from __future__ import annotations

import math
from typing import Any

SHIFT_FRACTION = 0.1
ROTATION_DEGREES = 7.0
SCALE_FRACTION = 0.1
# Keys the step within the epoch: (seed, epoch * STEP_STRIDE + step) never repeats for an epoch
# of fewer steps than this (60,000 images at batch 1 is 60,000 steps).
STEP_STRIDE = 1_000_003


def augment_batch(images: Any, seeds: Any, epoch: Any, step: Any, kind: str) -> Any:
    """`images` [replicas, batch, H, W, C] float32, moved per image; `seeds` [replicas] int64 (one
    per replica), `epoch` and `step` int64 scalars."""
    import tensorflow as tf

    if kind == "none":
        return images
    replicas, height, width, channels = (
        images.shape[0],
        images.shape[2],
        images.shape[3],
        images.shape[4],
    )
    batch = tf.shape(images)[1]
    counter = epoch * STEP_STRIDE + step
    draws = tf.concat(
        [
            tf.random.stateless_uniform(
                [batch, 4], seed=tf.stack([seeds[r], counter]), minval=-1.0, maxval=1.0
            )
            for r in range(replicas)
        ],
        axis=0,
    )  # [replicas * batch, 4]: x and y shift, angle, scale, each in [-1, 1)
    shift_x = draws[:, 0] * SHIFT_FRACTION * width
    shift_y = draws[:, 1] * SHIFT_FRACTION * height
    if kind == "affine":
        angle = draws[:, 2] * math.radians(ROTATION_DEGREES)
        scale = 1.0 + draws[:, 3] * SCALE_FRACTION
    else:
        angle = tf.zeros_like(shift_x)
        scale = tf.ones_like(shift_x)
    transforms = _inverse_maps(shift_x, shift_y, angle, scale, height, width)
    moved = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.reshape(images, [-1, height, width, channels]),
        transforms=transforms,
        output_shape=tf.constant([height, width], tf.int32),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )
    return tf.reshape(moved, [replicas, batch, height, width, channels])


def _inverse_maps(
    shift_x: Any, shift_y: Any, angle: Any, scale: Any, height: int, width: int
) -> Any:
    """Per image, the 8 projective coefficients that map an output pixel to the input pixel it
    samples: rotate by `angle` and scale by `scale` about the centre, then shift."""
    import tensorflow as tf

    centre_x, centre_y = (width - 1) / 2.0, (height - 1) / 2.0
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    a0, a1, b0, b1 = cos, sin, -sin, cos
    a2 = centre_x - a0 * centre_x - a1 * centre_y - shift_x
    b2 = centre_y - b0 * centre_x - b1 * centre_y - shift_y
    zeros = tf.zeros_like(a0)
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
