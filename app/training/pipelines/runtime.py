"""The training stack of a worker process: imported before any job, configured once.

TensorFlow is imported lazily, by the fit steps only; importing it is fork-safe, running an op
is not (a Celery worker's parent imports it, its forked children run jobs).
"""

from __future__ import annotations

import os

from app.config import Settings


def preload_training_code() -> None:
    """Import the training stack (TensorFlow, Keras, scikit-learn) without running any op."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import app.ml.export
    import app.ml.train  # noqa: F401
    from app.ml.references import preload

    preload()


_tf_configured = False


def configure_tensorflow(settings: Settings) -> None:
    """Thread limits once per process: TensorFlow refuses changes after its first op. Unset,
    each of the ``workers`` jobs gets its share of this host's cores (TensorFlow's own default,
    every core for each job, oversubscribes the embedded pool)."""
    global _tf_configured
    if not _tf_configured:
        from app.ml.train import configure_tensorflow

        cores = len(os.sched_getaffinity(0))
        configure_tensorflow(settings.tf_threads or max(1, cores // settings.workers))
        _tf_configured = True
