"""An ensemble's members as one set of layers, for training. Imports TensorFlow.

Keras runs an LSTM on the CPU as a loop of small ops per time step, and an ensemble as one such
loop per member, each with its own head and loss. Here each member's layer runs as
TensorFlow's fused ``BlockLSTM`` (the whole sequence in one op, with its own gradient op), and
every member's head in one batched matrix product. No weight links two
members, so each trains exactly as it would alone, on the sum of their losses
(:func:`ensemble_mse`).

The served network is one plain Keras LSTM per layer holding the same block-diagonal weights
and one ``Dense`` head averaging the members (:meth:`EnsembleLSTM.as_one_lstm`,
:meth:`EnsembleDense.as_average`): the average of the members' forecasts, in a graph that
exports to ONNX as ordinary LSTM and Gemm operators.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf


class EnsembleLSTM(keras.layers.Layer):
    """``members`` LSTMs of ``units`` each over ``(batch, time, features)``.

    ``shared_input``: every member reads the same features (a network's first layer); else the
    input is the previous EnsembleLSTM's sequence, member by member. Output: the last step, or
    every step with ``return_sequences``, as ``members × units`` features (member-major).
    Weights are kept per member in Keras' LSTM layout (gates input, forget, cell, output).
    """

    def __init__(
        self,
        units: int,
        members: int,
        *,
        shared_input: bool,
        return_sequences: bool,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.members = members
        self.shared_input = shared_input
        self.return_sequences = return_sequences

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        features = int(input_shape[-1] or 0)
        per_member = features if self.shared_input else features // self.members
        gates = 4 * self.units
        self.kernel = self.add_weight(
            shape=(self.members, per_member, gates),
            initializer=_per_member("glorot_uniform"),
            name="kernel",
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.members, self.units, gates),
            initializer=_per_member("orthogonal"),
            name="recurrent_kernel",
        )
        forget_ones = np.zeros((self.members, gates), dtype=np.float32)
        forget_ones[:, self.units : 2 * self.units] = 1.0  # Keras' unit_forget_bias
        self.bias = self.add_weight(
            shape=(self.members, gates),
            initializer=keras.initializers.Constant(forget_ones),
            name="bias",
        )

    def as_one_lstm(self) -> list[np.ndarray]:
        """Weights of a ``keras.layers.LSTM(members × units)`` computing every member: block
        diagonal, gate-major like each member's (every gate's block holds the members' units
        in turn)."""
        kernel, recurrent, bias = (
            np.asarray(w) for w in (self.kernel, self.recurrent_kernel, self.bias)
        )
        if self.shared_input:
            # (members, features, gates) → (features, members, gates)
            wide_kernel = kernel.transpose(1, 0, 2).reshape(kernel.shape[1], -1)
        else:
            wide_kernel = _block_diagonal(kernel)
        unit = np.arange(self.units)
        columns = np.concatenate(
            [
                m * 4 * self.units + gate * self.units + unit
                for gate in range(4)
                for m in range(self.members)
            ]
        )
        return [
            wide_kernel[:, columns],
            _block_diagonal(recurrent)[:, columns],
            bias.reshape(-1)[columns],
        ]

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        batch, steps = tf.shape(inputs)[0], tf.shape(inputs)[1]
        zeros = tf.zeros([batch, self.units], dtype=inputs.dtype)
        no_peephole = tf.zeros([self.units], dtype=inputs.dtype)
        time_major = tf.transpose(inputs, [1, 0, 2])
        if not self.shared_input:
            time_major = tf.reshape(time_major, [steps, batch, self.members, -1])
        # BlockLSTM orders the gates input, cell, forget, output. (BlockLSTMV2 takes Keras'
        # order, but its gradient does not match its forward pass: the bias gradient was off by
        # up to 34 of 36 against a Keras LSTM's; a test compares the gradients.)
        u = self.units
        block_order = np.r_[0:u, 2 * u : 3 * u, u : 2 * u, 3 * u : 4 * u]
        weights = tf.gather(
            tf.concat([self.kernel, self.recurrent_kernel], axis=1), block_order, axis=2
        )
        biases = tf.gather(self.bias, block_order, axis=1)
        sequences = []
        for m in range(self.members):
            sequences.append(
                tf.raw_ops.BlockLSTM(
                    seq_len_max=tf.cast(steps, tf.int64),
                    x=time_major if self.shared_input else time_major[:, :, m],
                    cs_prev=zeros,
                    h_prev=zeros,
                    w=weights[m],
                    wci=no_peephole,
                    wcf=no_peephole,
                    wco=no_peephole,
                    b=biases[m],
                    forget_bias=0.0,  # Keras' unit forget bias is in the bias itself
                    cell_clip=-1.0,  # ≤ 0: no clipping
                    use_peephole=False,
                )[6]  # h
            )
        sequence = tf.concat(sequences, axis=-1)
        return tf.transpose(sequence, [1, 0, 2]) if self.return_sequences else sequence[-1]

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        width = self.members * self.units
        if self.return_sequences:
            return (input_shape[0], input_shape[1], width)
        return (input_shape[0], width)


class EnsembleDense(keras.layers.Layer):
    """Each member's linear head: ``(batch, members × units)`` → ``(batch, members, outputs)``."""

    def __init__(
        self, outputs: int, members: int, *, kernel_initializer: str, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.outputs = outputs
        self.members = members
        self.kernel_initializer = kernel_initializer

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        units = int(input_shape[-1] or 0) // self.members
        self.kernel = self.add_weight(
            shape=(self.members, units, self.outputs),
            initializer=_per_member(self.kernel_initializer),
            name="kernel",
        )
        self.bias = self.add_weight(
            shape=(self.members, self.outputs), initializer="zeros", name="bias"
        )

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        per_member = tf.reshape(inputs, [-1, self.members, self.kernel.shape[1]])
        return tf.einsum("bmu,muo->bmo", per_member, self.kernel) + self.bias

    def as_average(self) -> list[np.ndarray]:
        """Weights of a ``keras.layers.Dense(outputs)`` giving the members' mean."""
        kernel = np.asarray(self.kernel)
        return [
            kernel.reshape(-1, self.outputs) / self.members,
            np.asarray(self.bias).mean(axis=0),
        ]

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], self.members, self.outputs)


def ensemble_mse(y_true: Any, y_pred: Any) -> Any:
    """Per sample, the sum over members of each member's mean squared error: targets
    ``(batch, 1, outputs)``, predictions ``(batch, members, outputs)``."""
    return keras.ops.sum(keras.ops.mean(keras.ops.square(y_pred - y_true), axis=-1), axis=-1)


def _per_member(initializer: str) -> Any:
    """Initialise each member's matrix on its own: the fan-in and fan-out of one member, and a
    new initializer each (a Keras initializer draws its seed once, so one instance would give
    every member the same weights)."""

    def initialise(shape: tuple[int, ...], dtype: Any = None) -> Any:
        return keras.ops.stack(
            [keras.initializers.get(initializer)(shape[1:], dtype=dtype) for _ in range(shape[0])]
        )

    return initialise


def _block_diagonal(blocks: np.ndarray) -> np.ndarray:
    """``(members, rows, columns)`` → ``(members·rows, members·columns)``, zero off the blocks."""
    members, rows, columns = blocks.shape
    wide = np.zeros((members * rows, members * columns), dtype=blocks.dtype)
    for m in range(members):
        wide[m * rows : (m + 1) * rows, m * columns : (m + 1) * columns] = blocks[m]
    return wide
