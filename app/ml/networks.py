"""Keras networks: stacked LSTM/GRU/SimpleRNN with dropout, or a dense MLP. Imports TensorFlow."""

from __future__ import annotations

import keras

from app.ml.spec import TrainingSpec

_RECURRENT = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "rnn": keras.layers.SimpleRNN}


def build_network(spec: TrainingSpec) -> keras.Model:
    """Input ``(window, 1)`` → ``layers`` × (layer, dropout) → ``Dense(1)``, compiled with MSE."""
    network = keras.Sequential(name=f"{spec.architecture}_{spec.layers}x{spec.units}")
    network.add(keras.Input(shape=(spec.window, 1)))
    if spec.architecture == "mlp":
        network.add(keras.layers.Flatten())
    for i in range(spec.layers):
        if spec.architecture == "mlp":
            network.add(keras.layers.Dense(spec.units, activation="relu"))
        else:
            last = i == spec.layers - 1
            network.add(_RECURRENT[spec.architecture](spec.units, return_sequences=not last))
        if spec.dropout:
            network.add(keras.layers.Dropout(spec.dropout))
    # A relative-move network starts as the no-change forecast (a zero output kernel: every
    # prediction is the bias, i.e. the mean move) and departs from it only as far as training
    # pays; random output weights add seed-dependent noise that recursion compounds.
    start_flat = spec.target_transform != "level"
    network.add(
        keras.layers.Dense(1, kernel_initializer="zeros" if start_flat else "glorot_uniform")
    )
    network.compile(optimizer=_optimizer(spec), loss="mean_squared_error")
    return network


def _optimizer(spec: TrainingSpec) -> keras.optimizers.Optimizer:
    lr = spec.effective_learning_rate
    if spec.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=spec.momentum)
    if spec.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=lr)
    return keras.optimizers.Adam(learning_rate=lr)
