"""Keras networks: stacked LSTM/GRU/SimpleRNN with dropout, or a dense MLP, as a seed ensemble.
Imports TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from app.ml.spec import TrainingSpec

_RECURRENT = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "rnn": keras.layers.SimpleRNN}


@dataclass(frozen=True)
class Networks:
    """``trained``: one output per ensemble member, each fitted to the targets (members start
    from different random weights and never see each other's errors); ``served``: the same
    layers with the members' outputs averaged, the one graph that is exported and served."""

    trained: keras.Model
    served: keras.Model
    heads: list[keras.layers.Dense]


@dataclass(frozen=True)
class Autoregression:
    """A fixed linear map from the (scaled) window to the (scaled) outputs."""

    kernel: np.ndarray  # (window, outputs)
    bias: np.ndarray  # (outputs,)


def fit_autoregression(x: np.ndarray, y: np.ndarray) -> Autoregression:
    """Ridge least squares of ``y`` (samples, outputs) on ``x`` (samples, window), the penalty
    chosen by generalised cross-validation: deterministic, so it adds no seed dependence."""
    from sklearn.linear_model import RidgeCV

    ridge = RidgeCV(alphas=np.logspace(-3, 3, 7)).fit(x, y.reshape(len(y), -1))
    kernel = np.asarray(ridge.coef_, dtype=np.float32).reshape(-1, x.shape[1]).T
    bias = np.asarray(ridge.intercept_, dtype=np.float32).reshape(-1)
    return Autoregression(kernel=kernel, bias=bias)


# Training steps run per call into TensorFlow: the same steps, the same weights (checked to the
# bit), without Python between the steps of a small network (a default job trained 10–27 %
# faster; BENCHMARKS.md). Epoch callbacks (progress, cancel, early stopping) still run per epoch.
STEPS_PER_EXECUTION = 32


def build_network(spec: TrainingSpec, autoregression: Autoregression | None = None) -> Networks:
    """Input ``(window, 1)`` → per member ``layers`` × (layer, dropout) → ``Dense(outputs)``,
    plus ``autoregression`` of the window where given (one frozen layer shared by every
    member), compiled with MSE on every member's output."""
    inputs = keras.Input(shape=(spec.input_window, 1))
    heads: list[keras.layers.Dense] = []
    outputs = []
    linear = None
    if autoregression is not None:
        layer = keras.layers.Dense(spec.outputs, trainable=False, name="autoregression")
        linear = layer(keras.layers.Flatten()(inputs))
        layer.set_weights([autoregression.kernel, autoregression.bias])
    # A relative-move network starts as the no-change forecast (a zero output kernel: every
    # prediction is the bias, i.e. the mean move), one over an autoregression as that
    # autoregression; either departs from it only as far as training pays: random output
    # weights add seed-dependent noise that recursion compounds.
    start_flat = spec.transform != "level" or linear is not None
    for member in range(spec.members):
        x = keras.layers.Flatten()(inputs) if spec.kind == "mlp" else inputs
        for i in range(spec.layers):
            if spec.kind == "mlp":
                x = keras.layers.Dense(spec.units, activation="relu")(x)
            else:
                last = i == spec.layers - 1
                x = _RECURRENT[spec.kind](spec.units, return_sequences=not last)(x)
            if spec.dropout:
                x = keras.layers.Dropout(spec.dropout)(x)
        head = keras.layers.Dense(
            spec.outputs,
            kernel_initializer="zeros" if start_flat else "glorot_uniform",
            name=f"member_{member}",
        )
        heads.append(head)
        outputs.append(head(x) if linear is None else keras.layers.Add()([head(x), linear]))
    name = f"{spec.kind}_{spec.layers}x{spec.units}"
    trained = keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=name)
    trained.compile(
        optimizer=_optimizer(spec),
        loss="mean_squared_error",
        steps_per_execution=STEPS_PER_EXECUTION,
    )
    served = (
        keras.Model(inputs, keras.layers.Average()(outputs), name=f"{name}_x{spec.members}")
        if len(outputs) > 1
        else trained
    )
    return Networks(trained=trained, served=served, heads=heads)


def _optimizer(spec: TrainingSpec) -> keras.optimizers.Optimizer:
    lr = spec.effective_learning_rate
    if spec.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=spec.momentum)
    if spec.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=lr)
    return keras.optimizers.Adam(learning_rate=lr)
