"""A bundle's forecaster manifest: what the forecaster is, what it was trained on and every
choice made for it; enough to load and serve it (``bundle.json`` holds it, with the files)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from app.ml.results import Choice, Record, Shrinkage, Tournament
from app.ml.spec import Scope, Strategy


class OnnxInput(Record):
    name: str
    shape: list[int | None]
    dtype: str


class ForecasterManifest(Record):
    """What a bundle's forecaster is and was trained on: enough to load and serve it.

    ``kind`` ``network``: the ONNX network with ``scaler`` and ``input``; ``baseline``: the
    baseline's parameters in ``baseline``; ``autoregression``: the ``ar`` reference's in
    ``autoregression``; ``reference``: a pickled statsforecast model; ``combination``: the
    weighted ``members`` (at most one network and one statsforecast model: their files keep
    their names). Bundles written before
    baselines existed have no ``kind`` (networks) and no ``season_length``.
    """

    kind: str = "network"
    target: str
    target_transform: str
    window: int
    season_length: int | None = None
    frequency: str | None
    exchange: str | None
    training_rows_sha256: str
    libraries: dict[str, str]
    created_at: str
    scaler: dict[str, Any] | None = None
    input: OnnxInput | None = None
    onnx_max_abs_diff: float | None = None
    baseline: dict[str, Any] | None = None
    autoregression: dict[str, Any] | None = Field(
        default=None, description="``kind`` autoregression: the ridge autoregression (``ar``)."
    )
    outputs: int = Field(default=1, description="Steps one network call predicts (direct > 1).")
    strategy: Strategy = "recursive"
    ensemble: int = 1
    normalisation: Literal["window"] | None = Field(
        default=None,
        description="window: a global model's; each input window is divided by its own scale "
        "(app.ml.transforms.window_scale) and the prediction multiplied back.",
    )
    scope: Scope = Field(
        default="series", description="global: one network trained on many series."
    )
    reference: str | None = Field(default=None, description="A statistical model's configuration.")
    choices: dict[str, Choice] = Field(
        default_factory=dict, description="Every choice the service made for this version, and why."
    )
    tournament: Tournament | None = None
    shrinkage: Shrinkage | None = Field(
        default=None, description="How far the network's forecasts lean toward naive, and why."
    )
    members: list[ForecasterManifest] | None = Field(
        default=None, description="``kind`` combination: each member's manifest."
    )
    weights: list[float] | None = Field(
        default=None, description="``kind`` combination: each member's weight, summing to 1."
    )
