"""How the default training spec was chosen: candidates side by side on the same split.

    python -m bench.defaults

MSFT ``high``, trained on 2006–2015, evaluated one step ahead on 2016 (the split of
``bench.training``), in-process through ``app.ml.train``. Each candidate changes one thing
from the default; the naive-persistence RMSE is the same for all of them.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from app.ml.defaults import resolve
from app.ml.spec import TrainingSpec
from bench.common import machine
from tests.support.data import MSFT_CSV

SPLIT = {"start": "2006-01-01", "test_start": "2016-01-01"}
CANDIDATES: dict[str, dict[str, Any]] = {
    "default (LSTM 1×32, log returns, standard scaler, adam, patience 5)": {},
    "GRU instead of LSTM": {"architecture": "gru"},
    "units 64": {"units": 64},
    "2 layers": {"layers": 2},
    "window 20": {"window": 20},
    "relative transform": {"target_transform": "relative"},
    "level transform + MinMax (tutorial scaling)": {
        "target_transform": "level",
        "scaler": "minmax",
    },
    "batch 32": {"batch_size": 32},
}


def main() -> None:
    from app.ml.evaluate import evaluate
    from app.ml.export import sample_windows, save_network
    from app.ml.inference import Forecaster
    from app.ml.train import configure_tensorflow, train

    configure_tensorflow(None)
    frame = pd.read_csv(MSFT_CSV, parse_dates=["Date"], index_col="Date")
    print(f"Machine: {machine()}\n")
    print("| candidate | wall | epochs | holdout RMSE | naive RMSE | RMSE / naive |")
    print("|---|---|---|---|---|---|")
    for label, change in CANDIDATES.items():
        resolved = resolve(frame["High"], TrainingSpec.model_validate({**SPLIT, **change}), "B")
        spec, plan = resolved.spec, resolved.plan
        started = time.perf_counter()
        result = train(plan, spec)
        wall = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as tmp:  # measure the exported network, as served
            save_network(result.network, Path(tmp), sample_windows(plan, spec, result.scaler))
            forecaster = Forecaster.from_spec(Path(tmp) / "network.onnx", spec, result.scaler)
            one_step = evaluate(forecaster, plan, horizon=1).model_dump()["one_step"]
        model, naive = one_step["model"]["rmse"], one_step["naive"]["rmse"]
        print(
            f"| {label} | {wall:.1f} s | {result.epochs_run} | {model:.3f} | {naive:.3f} "
            f"| {model / naive:.3f} |"
        )


if __name__ == "__main__":
    main()
