"""Networks end to end (TensorFlow): the default beats seasonal naive on a seasonal series,
and the same spec, data and seed give the same metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("tensorflow")

from app.ml.backtest import run_backtest  # noqa: E402
from app.ml.calendar import infer_frequency  # noqa: E402
from app.ml.dataset import plan_dataset  # noqa: E402
from app.ml.defaults import resolve  # noqa: E402
from app.ml.evaluate import evaluate  # noqa: E402
from app.ml.spec import BacktestSpec, TrainingSpec  # noqa: E402
from app.ml.train import configure_tensorflow, fit_forecaster  # noqa: E402
from tests.ml.helpers import random_walk, seasonal_load  # noqa: E402

configure_tensorflow(1)


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["lstm", "gru"])
def test_default_spec_beats_seasonal_naive_on_a_seasonal_series(architecture: str) -> None:
    values = seasonal_load()
    frequency = infer_frequency(pd.DatetimeIndex(values.index))
    # real defaults, uncapped, chosen from the data (but one network instead of the ensemble
    # of eight a series this short gets, to keep the suite fast)
    spec = TrainingSpec.model_validate({"architecture": architecture, "ensemble": 1})
    resolved = resolve(values, spec, frequency)
    spec, plan, season = resolved.spec, resolved.plan, resolved.spec.season_length or 1
    assert season == 24
    assert (spec.window or 0) > 24  # it covers the daily cycle
    fitted = fit_forecaster(plan, spec, horizon=24, season_length=season)
    report = evaluate(fitted.forecaster, plan, horizon=24, season_length=season).model_dump()
    one = report["one_step"]
    assert one["model"]["rmse"] <= 0.9 * one["seasonal_naive"]["rmse"], one
    assert one["skill_vs_seasonal_naive"] >= 0.1
    # It learned the daily cycle: also well ahead of "next hour = this hour".
    assert one["model"]["rmse"] <= 0.9 * one["naive"]["rmse"], one


@pytest.mark.slow
def test_same_spec_data_and_seed_give_the_same_metrics() -> None:
    values = random_walk(260, seed=7)
    # Dropout: its seeds are state too. The first fit builds its networks; the others train
    # those again (app.ml.networks.networks_for): the first run's first fold is compared with
    # the second's, trained on reused networks.
    spec = TrainingSpec(
        units=4, epochs=2, window=10, batch_size=32, seed=3, target_transform="log_return",
        ensemble=2, references=[], dropout=0.3, layers=2,
    )  # fmt: skip
    runs = []
    for _ in range(2):
        runs.append(
            run_backtest(
                values.to_numpy(),
                pd.DatetimeIndex(values.index),
                spec,
                BacktestSpec(windows=2, step=10, horizon=5),
                season_length=5,
                fit=lambda plan: fit_forecaster(plan, spec, horizon=5),
            ).model_dump()
        )
    first, second = (np.array(r["forecasts"]["model"], dtype=float) for r in runs)
    np.testing.assert_allclose(first, second, rtol=0, atol=1e-6)
    for a, b in zip(runs[0]["folds"], runs[1]["folds"], strict=True):
        assert a["one_step"]["model"]["rmse"] == pytest.approx(
            b["one_step"]["model"]["rmse"], abs=1e-6
        )
        np.testing.assert_allclose(
            a["per_step_rmse"]["model"], b["per_step_rmse"]["model"], atol=1e-6
        )
        assert a["coverage"] == pytest.approx(b["coverage"], abs=1e-6)


@pytest.mark.parametrize("layers", [1, 2])
def test_the_fused_lstm_has_the_gradients_of_separate_keras_lstms(layers: int) -> None:
    """Training follows the gradient of each member alone: every fused weight's gradient is
    that of a plain Keras LSTM (layers stacked per member) with the member's weights."""
    import keras
    import tensorflow as tf

    from app.ml.ensemble_layers import EnsembleLSTM

    keras.utils.set_random_seed(2)
    rng = np.random.default_rng(2)
    x = tf.constant(rng.normal(size=(8, 5, 1)).astype(np.float32))
    fused = [
        EnsembleLSTM(3, 2, shared_input=i == 0, return_sequences=i < layers - 1)
        for i in range(layers)
    ]
    target = tf.constant(rng.normal(size=(8, 6)).astype(np.float32))
    weighting = tf.range(1.0, 7.0)  # a different weight per output: a swap would show

    def loss(h: tf.Tensor, columns: slice = slice(None)) -> tf.Tensor:
        return tf.reduce_sum((h - target[:, columns]) ** 2 * weighting[columns])

    with tf.GradientTape() as tape:
        h = x
        for layer in fused:
            h = layer(h)
        for layer in fused:  # away from the initial biases, so every gate's gradient is alive
            layer.bias.assign(layer.bias + rng.normal(size=layer.bias.shape).astype(np.float32))
        h = x
        for layer in fused:
            h = layer(h)
        total = loss(h)
    variables = [w for layer in fused for w in (layer.kernel, layer.recurrent_kernel, layer.bias)]
    fused_grads = tape.gradient(total, variables)
    for m in range(2):
        plain = []
        for i, layer in enumerate(fused):
            lstm = keras.layers.LSTM(3, return_sequences=i < layers - 1)
            lstm.build((None, 5, 1 if i == 0 else 3))
            lstm.set_weights(
                [np.asarray(w[m]) for w in (layer.kernel, layer.recurrent_kernel, layer.bias)]
            )
            plain.append(lstm)
        with tf.GradientTape() as tape:
            h = x
            for lstm in plain:
                h = lstm(h)
            alone = loss(h, slice(3 * m, 3 * m + 3))
        plain_grads = tape.gradient(alone, [w for lstm in plain for w in lstm.trainable_weights])
        for got, expected in zip(fused_grads, plain_grads, strict=True):
            np.testing.assert_allclose(np.asarray(got)[m], np.asarray(expected), atol=1e-4)


def test_a_job_reuses_its_predecessors_networks_only_for_the_same_graph() -> None:
    import keras

    from app.ml.networks import Autoregression, fit_autoregression, networks_for

    spec = TrainingSpec(
        units=4, window=6, ensemble=2, batch_size=16, target_transform="log_return", seed=1
    )

    def built(spec: TrainingSpec, autoregression: Autoregression | None = None) -> object:
        keras.backend.clear_session(free_memory=False)  # as every fit does first
        return networks_for(spec, autoregression)

    first = built(spec)
    assert built(spec.model_copy(update={"seed": 9})) is first
    changes = [{"dropout": 0.2}, {"units": 5}, {"layers": 2}, {"learning_rate": 0.01},
               {"optimizer": "sgd"}, {"architecture": "gru"}, {"window": 7}]  # fmt: skip
    for change in changes:
        base = built(spec)
        assert built(spec.model_copy(update=change)) is not base, change
    rng = np.random.default_rng(0)
    linear = fit_autoregression(rng.normal(size=(32, 6)), rng.normal(size=(32, 1, 1)))
    base = built(spec)
    assert built(spec, linear) is not base


@pytest.mark.slow
def test_drift_modes_move_the_forecasts_by_the_chosen_mean_step() -> None:
    values = random_walk(300, seed=2)
    base = {"units": 4, "epochs": 2, "window": 10, "batch_size": 32, "seed": 1, "ensemble": 1}
    base |= {"target_transform": "log_return", "lean_toward_naive": False}  # the drift alone
    base["combine_with_ar"] = False
    plan = plan_dataset(values, TrainingSpec(**base))
    history = values.to_numpy()[None, -11:]
    one = {
        mode: fit_forecaster(
            plan, TrainingSpec(**base, drift=mode), horizon=3
        ).forecaster.recursive(history, 1)[0, 0]
        for mode in ("learned", "none", "baseline")
    }
    train = values.to_numpy()[: plan.holdout_start]
    mean_move = float(np.mean(np.diff(np.log(train))[10:]))
    slope = (train[-1] - train[0]) / (len(train) - 1) / train[-1]
    assert np.log(one["learned"] / one["none"]) == pytest.approx(mean_move, rel=1e-3)
    assert np.log(one["baseline"] / one["none"]) == pytest.approx(np.log1p(slope), rel=1e-3)


def test_the_shuffle_field_decides_the_batch_order() -> None:
    """Same seed, same initial weights: only the order of the mini-batches differs."""
    from app.ml.train import train

    values = random_walk(200, seed=4)
    base = {"units": 4, "epochs": 2, "window": 10, "batch_size": 16, "seed": 1, "ensemble": 1}
    base |= {"target_transform": "log_return", "references": [], "patience": 0}
    plan = plan_dataset(values, TrainingSpec(**base))
    in_order, shuffled = (
        train(plan, TrainingSpec(**base, shuffle=shuffle)).network.get_weights()
        for shuffle in (False, True)
    )
    assert any(not np.allclose(a, b) for a, b in zip(in_order, shuffled, strict=True))


def test_training_batches_come_in_time_order_or_reshuffled_every_epoch() -> None:
    from app.ml.train import training_batches

    x = np.arange(10, dtype=np.float32).reshape(10, 1, 1)
    y = x[:, :, 0] * 10

    def epoch(data: object) -> list[np.ndarray]:
        return [b[0].numpy().ravel() for b in data]  # type: ignore[attr-defined]

    in_order = epoch(training_batches(x, y, 4))
    assert [b.tolist() for b in in_order] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert all(
        np.array_equal(bx[0].numpy().ravel() * 10, bx[1].numpy().ravel())
        for bx in training_batches(x, y, 4)
    )
    shuffled = training_batches(x, y, 4, shuffle=True, seed=3)
    first, second = np.concatenate(epoch(shuffled)), np.concatenate(epoch(shuffled))
    assert sorted(first) == sorted(second) == list(range(10))
    assert not np.array_equal(first, second)  # a new order every epoch
    again = np.concatenate(epoch(training_batches(x, y, 4, shuffle=True, seed=3)))
    assert np.array_equal(first, again)  # the seed decides the orders


def test_an_lstm_ensemble_trains_as_separate_lstms_and_serves_their_average() -> None:
    """The fused training layers compute what plain Keras LSTMs with each member's weights
    compute, and the served graph (one wide LSTM, one averaging head) their mean."""
    import keras

    from app.ml.ensemble_layers import EnsembleLSTM
    from app.ml.networks import build_network, fit_autoregression

    keras.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(64, 6, 1)).astype(np.float32)
    y = rng.normal(size=(64, 1, 1)).astype(np.float32)
    spec = TrainingSpec(
        units=4, layers=2, window=6, ensemble=3, batch_size=16, target_transform="level"
    )
    networks = build_network(spec, fit_autoregression(x[:, :, 0], y))
    networks.trained.fit(x, y, epochs=2, batch_size=16, verbose=0)
    members = np.asarray(networks.trained(x))  # (samples, members, 1)
    served = np.asarray(networks.to_served()(x))
    np.testing.assert_allclose(served, members.mean(axis=1), atol=1e-5)
    assert np.ptp(members, axis=1).max() > 1e-6  # members differ: a mean of one would pass

    fused = [layer for layer in networks.trained.layers if isinstance(layer, EnsembleLSTM)]
    head = networks.trained.get_layer("members")
    linear = networks.trained.get_layer("autoregression")(x.reshape(len(x), -1))
    for m in range(3):
        h = x
        for i, layer in enumerate(fused):
            plain = keras.layers.LSTM(4, return_sequences=i == 0)
            plain.build((None, 6, h.shape[-1]))
            plain.set_weights(
                [np.asarray(w[m]) for w in (layer.kernel, layer.recurrent_kernel, layer.bias)]
            )
            h = np.asarray(plain(h))
        alone = h @ np.asarray(head.kernel[m]) + np.asarray(head.bias[m]) + np.asarray(linear)
        np.testing.assert_allclose(members[:, m], alone, atol=1e-5)
