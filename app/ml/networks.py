"""Keras networks: stacked LSTM/GRU/SimpleRNN with dropout, or a dense MLP, as a seed ensemble.
Imports TensorFlow."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import keras
import numpy as np

from app.ml.autoregression import ridge
from app.ml.ensemble_layers import EnsembleDense, EnsembleLSTM, ensemble_mse
from app.ml.spec import TrainingSpec

_RECURRENT = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "rnn": keras.layers.SimpleRNN}


@dataclass(frozen=True)
class Networks:
    """``trained``: every member's prediction, ``(batch, members, outputs)``, fitted on the sum
    of their losses (members start from different random weights and never see each other's
    errors); ``served``: the members' average, the one graph that is exported and served."""

    trained: keras.Model
    served: keras.Model
    heads: list[keras.layers.Dense]  # the served graph's output layers
    autoregression: keras.layers.Dense | None  # frozen, shared by every member
    # Where the served graph has layers of its own: each one and its trained weights.
    copies: list[tuple[Callable[[], list[np.ndarray]], keras.layers.Layer]]

    def to_served(self) -> keras.Model:
        """The served graph, holding the trained weights."""
        for weights, layer in self.copies:
            layer.set_weights(weights())
        return self.served


@dataclass(frozen=True)
class Autoregression:
    """A fixed linear map from the (scaled) window to the (scaled) outputs."""

    kernel: np.ndarray  # (window, outputs)
    bias: np.ndarray  # (outputs,)


def fit_autoregression(x: np.ndarray, y: np.ndarray) -> Autoregression:
    """Ridge least squares of ``y`` (samples, outputs) on ``x`` (samples, window), the penalty
    chosen by generalised cross-validation (:func:`app.ml.autoregression.ridge`):
    deterministic, so it adds no seed dependence."""
    fitted = ridge(x, y.reshape(len(y), -1))
    return Autoregression(
        kernel=np.asarray(fitted.kernel, dtype=np.float32),
        bias=np.asarray(fitted.bias, dtype=np.float32).reshape(-1),
    )


# Training steps run per call into TensorFlow: the same steps, the same weights (checked to the
# bit), without Python between the steps of a small network (a default job trained 10–27 %
# faster; BENCHMARKS.md). Epoch callbacks (progress, cancel, early stopping) still run per epoch.
STEPS_PER_EXECUTION = 32


# The last networks this process trained, and the graph they were built for (see networks_for).
_last: tuple[str, Networks] | None = None


def networks_for(spec: TrainingSpec, autoregression: Autoregression | None = None) -> Networks:
    """The networks of :func:`build_network`, ready to train; those of the previous job of this
    process when they have the same graph, started from this job's own initial weights and
    optimizer state (so the result is the same either way: a test compares them).

    Tracing the training step costs 2–3 s a job, a fifth of a default one; a batch trains one
    spec on many series, so all but a worker's first job skip it.
    """
    global _last
    fresh = build_network(spec, autoregression)
    graph = _graph_of(fresh.trained)
    if _last is None or _last[0] != graph:
        _last = (graph, fresh)
        return fresh
    reused = _last[1]
    _start_from(reused.trained, fresh.trained)
    return reused


def _graph_of(model: keras.Model) -> str:
    """What the traced training step depends on, read from the model rather than listed by
    hand: its layers' configuration and its compile configuration (optimizer, loss, steps per
    execution). Seeds and weights are not in it; layer names are, the same after
    ``clear_session``."""
    compiled = json.dumps(model.get_compile_config(), sort_keys=True, default=str)
    return f"{model.to_json(sort_keys=True)}\n{compiled}"


def _start_from(target: keras.Model, source: keras.Model) -> None:
    """Give ``target`` (same graph, trained before) the state of the untrained ``source``:
    every variable (weights, the frozen autoregression, dropout seeds) and fresh optimizer
    slots."""
    for variable, value in zip(target.variables, source.variables, strict=True):
        variable.assign(value)
    if target.optimizer.built:
        optimizer = source.optimizer
        optimizer.build(target.trainable_variables)  # zero slots, iteration 0
        for variable, value in zip(target.optimizer.variables, optimizer.variables, strict=True):
            variable.assign(value)


def forget_networks() -> None:
    """After a failed fit: the next job builds its own."""
    global _last
    _last = None


def build_network(spec: TrainingSpec, autoregression: Autoregression | None = None) -> Networks:
    """Input ``(window, 1)`` → per member ``layers`` × (layer, dropout) → ``Dense(outputs)``,
    plus ``autoregression`` of the window where given (one frozen layer shared by every
    member), compiled with the sum of the members' MSE.

    LSTM members train as one fused ensemble (:mod:`app.ml.ensemble_layers`: a default job
    trained ~2× faster) and are served as one block-diagonal Keras LSTM with an averaging head.
    """
    inputs = keras.Input(shape=(spec.input_window, 1))
    linear = layer = None
    if autoregression is not None:
        layer = keras.layers.Dense(spec.outputs, trainable=False, name="autoregression")
        linear = layer(keras.layers.Flatten()(inputs))
        layer.set_weights([autoregression.kernel, autoregression.bias])
    # A relative-move network starts as the no-change forecast (a zero output kernel: every
    # prediction is the bias, i.e. the mean move), one over an autoregression as that
    # autoregression; either departs from it only as far as training pays: random output
    # weights add seed-dependent noise that recursion compounds.
    start_flat = spec.transform != "level" or linear is not None
    head_initializer = "zeros" if start_flat else "glorot_uniform"
    # The layers see the last ``recurrent_window`` values (the autoregression sees them all).
    cropped = spec.input_window - spec.recurrent_window
    seen = keras.layers.Cropping1D((cropped, 0))(inputs) if cropped else inputs
    build = _fused_lstm if spec.kind == "lstm" else _member_networks
    return replace(build(spec, inputs, seen, linear, head_initializer), autoregression=layer)


def _fused_lstm(
    spec: TrainingSpec, inputs: Any, seen: Any, linear: Any, head_initializer: str
) -> Networks:
    name = f"{spec.kind}_{spec.layers}x{spec.units}"
    fused, x = [], seen
    for i in range(spec.layers):
        layer = EnsembleLSTM(
            spec.units, spec.members, shared_input=i == 0, return_sequences=i < spec.layers - 1
        )
        fused.append(layer)
        x = layer(x)
        if spec.dropout:
            x = keras.layers.Dropout(spec.dropout)(x)
    members_head = EnsembleDense(
        spec.outputs, spec.members, kernel_initializer=head_initializer, name="members"
    )
    predicted = members_head(x)
    if linear is not None:
        predicted = predicted + keras.ops.expand_dims(linear, 1)
    trained = _compiled(keras.Model(inputs, predicted, name=name), spec)

    copies: list[tuple[Callable[[], list[np.ndarray]], keras.layers.Layer]] = []
    x = seen
    for i, layer in enumerate(fused):
        lstm = keras.layers.LSTM(spec.members * spec.units, return_sequences=i < spec.layers - 1)
        copies.append((layer.as_one_lstm, lstm))
        x = lstm(x)
    head = keras.layers.Dense(spec.outputs, name="average")
    copies.append((members_head.as_average, head))
    served = head(x) if linear is None else keras.layers.Add()([head(x), linear])
    served_model = keras.Model(inputs, served, name=f"{name}_x{spec.members}")
    return Networks(trained, served_model, [head], None, copies)


def _member_networks(
    spec: TrainingSpec, inputs: Any, seen: Any, linear: Any, head_initializer: str
) -> Networks:
    """GRU, SimpleRNN and MLP members: one stack of Keras layers each."""
    heads: list[keras.layers.Dense] = []
    outputs = []
    for member in range(spec.members):
        x = keras.layers.Flatten()(seen) if spec.kind == "mlp" else seen
        for i in range(spec.layers):
            if spec.kind == "mlp":
                x = keras.layers.Dense(spec.units, activation="relu")(x)
            else:
                last = i == spec.layers - 1
                x = _RECURRENT[spec.kind](spec.units, return_sequences=not last)(x)
            if spec.dropout:
                x = keras.layers.Dropout(spec.dropout)(x)
        head = keras.layers.Dense(
            spec.outputs, kernel_initializer=head_initializer, name=f"member_{member}"
        )
        heads.append(head)
        outputs.append(head(x) if linear is None else keras.layers.Add()([head(x), linear]))
    name = f"{spec.kind}_{spec.layers}x{spec.units}"
    trained = _compiled(keras.Model(inputs, keras.ops.stack(outputs, axis=1), name=name), spec)
    served = (
        keras.Model(inputs, keras.layers.Average()(outputs), name=f"{name}_x{spec.members}")
        if spec.members > 1
        else keras.Model(inputs, outputs[0], name=name)
    )
    return Networks(trained, served, heads, None, [])


def _compiled(model: keras.Model, spec: TrainingSpec) -> keras.Model:
    model.compile(
        optimizer=_optimizer(spec), loss=ensemble_mse, steps_per_execution=STEPS_PER_EXECUTION
    )
    return model


def _optimizer(spec: TrainingSpec) -> keras.optimizers.Optimizer:
    lr = spec.effective_learning_rate
    if spec.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=spec.momentum)
    if spec.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=lr)
    return keras.optimizers.Adam(learning_rate=lr)
