"""The few plotting helpers the lessons share (loss curves, accuracy curves, embeddings, confusion matrices)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def smooth(values, window: int = 20) -> np.ndarray:
    """Moving average, so the trend of a noisy per-step loss is visible."""
    values = np.asarray(values, dtype=float)
    if len(values) < window:
        return values
    return np.convolve(values, np.ones(window) / window, mode="valid")


def plot_loss(history: dict, title: str = "training loss", ax=None, label: str | None = None):
    """Per-step training loss, raw (faint) and smoothed."""
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    losses = history["train_loss"]
    line = ax.plot(losses, alpha=0.25)[0]
    window = max(1, len(losses) // 50)
    ax.plot(np.arange(len(smooth(losses, window))) + window - 1, smooth(losses, window),
            color=line.get_color(), label=label)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy loss")
    ax.set_title(title)
    if label:
        ax.legend()
    return ax


def plot_embeddings_2d(vectors: np.ndarray, words: list[str], groups: list[str], markers: list[str] | None = None,
                       title: str = "", ax=None):
    """Project vectors to 2-D with PCA and draw each word, coloured by its group."""
    centered = vectors - vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(centered, full_matrices=False)
    xy = centered @ vt[:2].T
    ax = ax or plt.subplots(figsize=(6, 5))[1]
    colours = dict(zip(sorted(set(groups)), plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    markers = markers or ["o"] * len(words)
    for (x, y), word, group, marker in zip(xy, words, groups, markers):
        ax.scatter(x, y, color=colours[group], marker=marker)
        ax.annotate(word, (x, y), fontsize=8, xytext=(3, 3), textcoords="offset points")
    for group, colour in colours.items():
        ax.scatter([], [], color=colour, label=group)
    ax.legend(fontsize=8)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def plot_confusion_matrix(matrix, labels, title: str = "", ax=None, xlabel: str = "predicted label",
                          ylabel: str = "true label"):
    """Counts of (row label, column label) as a heat map with the numbers written in (lesson 06)."""
    matrix = np.asarray(matrix)
    ax = ax or plt.subplots(figsize=(4, 3.5))[1]
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center",
                color="white" if count > matrix.max() / 2 else "black")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return ax


def plot_comparison(comparison, title: str = "", ax=None, chance: float | None = None, split: str = "test"):
    """Each row of a ``utils.comparison.Comparison`` on its own line: one dot per seed, a bar at the
    mean, so the spread over seeds is seen next to the differences between rows (lessons 03, 04, 07, 08)."""
    rows = list(comparison.rows.values())
    ax = ax or plt.subplots(figsize=(6.5, 0.45 * len(rows) + 1.2))[1]
    for y, row in enumerate(rows):
        values = np.asarray(row.test if split == "test" else row.validation, dtype=float)
        ax.scatter(values, np.full(len(values), y), s=22, alpha=0.75, color="C0", zorder=3)
        ax.plot([values.mean()] * 2, [y - 0.3, y + 0.3], color="C3", lw=2, zorder=2)
    if chance is not None:
        ax.axvline(chance, color="grey", ls=":", lw=1, label="chance")
        ax.legend(fontsize=8, loc="lower right")
    ax.set_yticks(range(len(rows)), [row.name for row in rows])
    ax.invert_yaxis()
    ax.set_xlabel(f"{split} accuracy (dots: one run per seed; bar: the mean)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return ax
