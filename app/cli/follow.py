"""Following a job or a batch until it finishes: a progress bar on stderr, a poll every
half second (each poll retried like any read while the service is away), Ctrl-C stops
following and not the work."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import click

from app.cli.problems import EXIT_INTERRUPTED

POLL_S = 0.5
# What the bar shows of one reading: steps done, steps in all, the label.
Progress = tuple[int, int, str]


def follow(
    name: str,
    read: Callable[[], dict[str, Any]],
    progress: Callable[[dict[str, Any]], Progress],
    finished: Callable[[dict[str, Any]], bool],
    stop_hint: str,
) -> dict[str, Any]:
    """Poll ``read`` until ``finished``; exit 130 on Ctrl-C, saying how to stop the work."""
    try:
        return _poll(read, progress, finished)
    except KeyboardInterrupt:
        click.echo(f"\nstopped following {name}; it goes on ({stop_hint} stops it)", err=True)
        sys.exit(EXIT_INTERRUPTED)


def _poll(
    read: Callable[[], dict[str, Any]],
    progress: Callable[[dict[str, Any]], Progress],
    finished: Callable[[dict[str, Any]], bool],
) -> dict[str, Any]:
    item = read()
    done, length, label = progress(item)
    with click.progressbar(
        length=max(length, 1), label=label, show_eta=False, show_pos=True, file=sys.stderr
    ) as bar:
        while True:
            bar.length, bar.label = max(length, 1), label
            bar.update(done - bar.pos)
            if finished(item):
                return item
            time.sleep(POLL_S)
            item = read()
            done, length, label = progress(item)
