"""The loss curves of a run as a PNG: the published ``loss.png`` and ``kubectl finetune plot``.

Both draw from the same ``metrics.json`` history (the Trainer's log entries), so they share
this module; it needs only matplotlib (its Agg backend: no display), never torch, so the CLI
can import it without the trainer's heavy dependencies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

CURVES = (("loss", "train"), ("eval_loss", "eval"), ("base_eval_loss", "base eval"))
"""History key and legend label of each curve."""
MARKERS_BELOW = 30
"""Curves with fewer points show each point."""


def loss_series(
    history: Sequence[Mapping[str, Any]],
) -> dict[str, tuple[tuple[float, ...], tuple[float, ...]]]:
    """{label: (steps, losses)} of each curve the history has points for."""
    series = {}
    for key, label in CURVES:
        points = [(e["step"], e[key]) for e in history if key in e and "step" in e]
        if points:
            steps, losses = zip(*points, strict=True)
            series[label] = (tuple(steps), tuple(losses))
    return series


def loss_plot(history: Sequence[Mapping[str, Any]], path: Path, title: str | None = None) -> None:
    """Training and eval loss against the step, written to ``path`` as a PNG."""
    fig = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for label, (steps, losses) in loss_series(history).items():
        ax.plot(steps, losses, marker="o" if len(steps) < MARKERS_BELOW else None, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
