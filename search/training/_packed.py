"""The seed replicas of one configuration packed into one network R times wider.

oneDNN computes the 1-12-channel convolutions of the search's small models poorly: a kernel call
costs about as much for 3 channels as for 15. So the R replicas of a trial do not run as R
networks side by side: replica r's images sit in channels r*C..(r+1)*C of one input, every
convolution is a grouped convolution with R groups (replica r's filters read only its own
channels), depthwise convolutions, BatchNorm, ReLU and pooling are per channel anyway, and the
dense layers are batched matrix products over a leading replica axis. The replicas share no
weight and no statistic, their losses add, and the optimizers used (Adam, SGD, RMSprop ...) are
elementwise, so each replica trains as it would alone, with its own initialisation (copied from
the Keras model `spaces.build_model` makes for its seed) and its own data order; only the order
of floating-point sums inside a kernel may differ.

The packed network is raw TensorFlow (no Keras layers): after training, `unpack` copies each
replica's weights back into its Keras model, from which the deployed model is made as before.
"""

from __future__ import annotations

from typing import Any

from slimtune.spaces import CNNConfig

BN_EPSILON = 1e-3  # keras.layers.BatchNormalization's defaults, so unpacked models match
BN_MOMENTUM = 0.99


class PackedNetwork:
    """R replicas of `config` (`models`: the Keras models of `spaces.build_model`, one per seed)
    as one network; `compute_dtype` is "float32" or "bfloat16" (the classifier stays float32)."""

    def __init__(self, config: CNNConfig, models: list[Any], compute_dtype: str) -> None:
        self.config = config
        self.models = models
        self.replicas = len(models)
        self.compute_dtype = compute_dtype
        # (layer name, weight index) -> the packed variable, and how replicas are stacked in it
        self._slots: list[tuple[str, int, Any, int]] = []
        self.trainable: list[Any] = []
        self.moving: dict[str, tuple[Any, Any]] = {}
        self.blocks = []
        for i, block in enumerate(config.blocks):
            conv = self._pack(f"conv{i}", stack_axes=(2, 3, 0) if block.separable else (3, 0))
            if config.batch_norm:
                gamma, beta, mean, variance = self._pack(
                    f"bn{i}", stack_axes=(0, 0, 0, 0), trainable=(True, True, False, False)
                )
                self.moving[f"bn{i}"] = (mean, variance)
                norm = (gamma, beta)
            else:
                norm = None
            self.blocks.append((block, conv, norm))
        self.hidden = (
            self._pack("hidden", stack_axes=("new", "new")) if config.dense_units else None
        )
        self.classes = self._pack("classes", stack_axes=("new", "new"))

    def _pack(
        self, name: str, stack_axes: tuple[Any, ...], trainable: tuple[bool, ...] | None = None
    ) -> list[Any]:
        """The weights of layer `name` of every replica, concatenated along each weight's stacking
        axis ("new": stacked along a new leading replica axis), as Keras variables."""
        import keras
        import numpy as np

        per_replica = [m.get_layer(name).get_weights() for m in self.models]
        packed = []
        for index, axis in enumerate(stack_axes[: len(per_replica[0])]):
            parts = [np.asarray(w[index], dtype=np.float32) for w in per_replica]
            value = np.stack(parts) if axis == "new" else np.concatenate(parts, axis=axis)
            is_trainable = True if trainable is None else trainable[index]
            variable = keras.Variable(value, trainable=is_trainable, name=f"{name}_{index}")
            if is_trainable:
                self.trainable.append(variable)
            self._slots.append((name, index, variable, axis))
            packed.append(variable)
        return packed

    def __call__(self, images: Any, training: bool) -> Any:
        """Logits [R, batch, classes] for `images` [batch, H, W, R * C] (replica r's channels
        r*C..(r+1)*C)."""
        import tensorflow as tf

        dtype = tf.as_dtype(self.compute_dtype)
        x = tf.cast(images, dtype)
        for i, (block, conv, norm) in enumerate(self.blocks):
            padding = block.padding.upper()
            if block.separable:
                x = tf.nn.depthwise_conv2d(x, tf.cast(conv[0], dtype), [1, 1, 1, 1], padding)
                x = tf.nn.conv2d(x, tf.cast(conv[1], dtype), 1, "VALID")  # grouped 1 x 1
            else:
                x = tf.nn.conv2d(x, tf.cast(conv[0], dtype), 1, padding)  # grouped k x k
            if norm is None:
                x = x + tf.cast(conv[-1], dtype)
            else:
                x = self._batch_norm(x, f"bn{i}", norm, training)
            x = tf.nn.relu(x)
            if block.pool > 1:
                x = tf.nn.max_pool2d(x, block.pool, block.pool, padding)
        x = self._head(x)
        if self.hidden is not None:
            kernel, bias = self.hidden
            x = tf.nn.relu(
                tf.einsum("rbk,rkn->rbn", x, tf.cast(kernel, dtype))
                + tf.cast(bias, dtype)[:, None, :]
            )
            if training and self.config.dropout:
                x = tf.nn.dropout(x, self.config.dropout)
        kernel, bias = self.classes
        return tf.einsum("rbk,rkn->rbn", tf.cast(x, tf.float32), kernel) + bias[:, None, :]

    def _head(self, x: Any) -> Any:
        """[batch, h, w, R * c] -> [R, batch, features] in the order of each replica's own
        Flatten (h, w, c) or GlobalAveragePooling2D."""
        import tensorflow as tf

        batch = tf.shape(x)[0]
        height, width, channels = x.shape[1], x.shape[2], x.shape[3] // self.replicas
        if self.config.head == "flatten":
            x = tf.reshape(x, [batch, height, width, self.replicas, channels])
            x = tf.transpose(x, [3, 0, 1, 2, 4])
            return tf.reshape(x, [self.replicas, batch, height * width * channels])
        x = tf.reduce_mean(tf.cast(x, tf.float32), axis=[1, 2])
        x = tf.reshape(x, [batch, self.replicas, channels])
        return tf.cast(tf.transpose(x, [1, 0, 2]), tf.as_dtype(self.compute_dtype))

    def _batch_norm(self, x: Any, name: str, norm: tuple[Any, Any], training: bool) -> Any:
        """keras.layers.BatchNormalization per channel, in float32 as Keras computes it under a
        mixed policy. In training TensorFlow's fused kernel (25-30% faster than moments and
        normalize on the separable + BatchNorm model) and the moving statistics updated as
        Keras updates them."""
        import tensorflow as tf

        gamma, beta = norm
        moving_mean, moving_variance = self.moving[name]
        x32 = tf.cast(x, tf.float32)
        if not training:
            out = tf.nn.batch_normalization(
                x32, moving_mean, moving_variance, beta, gamma, BN_EPSILON
            )
            return tf.cast(out, x.dtype)
        out, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            x32,
            tf.convert_to_tensor(gamma),
            tf.convert_to_tensor(beta),
            epsilon=BN_EPSILON,
            is_training=True,
        )
        # The fused kernel returns the unbiased batch variance; Keras averages the biased one.
        count = tf.cast(tf.size(x32) // tf.shape(x32)[-1], tf.float32)
        variance = variance * (count - 1.0) / count
        moving_mean.assign(moving_mean * BN_MOMENTUM + mean * (1 - BN_MOMENTUM))
        moving_variance.assign(moving_variance * BN_MOMENTUM + variance * (1 - BN_MOMENTUM))
        return tf.cast(out, x.dtype)

    def unpack(self) -> None:
        """Copy every replica's trained weights back into its Keras model."""
        import numpy as np

        values: dict[str, list[list[Any]]] = {}
        for name, _index, variable, axis in self._slots:
            value = np.asarray(variable.numpy())
            if axis == "new":
                parts = list(value)
            else:
                parts = np.split(value, self.replicas, axis=axis)
            per_name = values.setdefault(name, [[] for _ in self.models])
            for r, part in enumerate(parts):
                per_name[r].append(part)
        for name, per_replica in values.items():
            for model, weights in zip(self.models, per_replica, strict=False):
                model.get_layer(name).set_weights(weights)


def pack_images(images: Any, replicas: int) -> Any:
    """[R, batch, H, W, C] (each replica's own batch) -> [batch, H, W, R * C]."""
    import tensorflow as tf

    shape = tf.shape(images)
    x = tf.transpose(images, [1, 2, 3, 0, 4])
    return tf.reshape(x, [shape[1], shape[2], shape[3], replicas * shape[4]])
