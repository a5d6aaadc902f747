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
    """Counts of (row label, column label) as a heat map with the numbers written in (lesson 07)."""
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
    mean, so the spread over seeds is seen next to the differences between rows (lessons 03, 04, 08, 09)."""
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


def plot_paradigm():
    """The course in one figure (lesson 00): pre-training on unlabeled text, the head discarded, θ with a
    new ω fine-tuned on labeled data into f(x; θ̂, ω̂), and the other roads (a frozen θ, prompting).
    Returns the figure; nothing is saved. Each stage is a box whose text and box share a ``gid``."""
    from matplotlib.patches import FancyBboxPatch

    fig, ax = plt.subplots(figsize=(12, 4.8))
    ax.set_xlim(0, 14)
    ax.set_ylim(0, 6.2)
    ax.axis("off")
    colours = {"data": "#eeeeee", "pre": "#dbe9f6", "adapt": "#e2f0d9", "model": "#fde9c9", "other": "#f3f3f3"}
    boxes = {}

    def box(key, x, y, width, text, colour, height=1.25, bold=False):
        patch = FancyBboxPatch((x - width / 2, y - height / 2), width, height, gid=key,
                               boxstyle="round,pad=0,rounding_size=0.12", facecolor=colours[colour],
                               edgecolor="#555555", linewidth=1)
        ax.add_patch(patch)
        ax.text(x, y, text, ha="center", va="center", fontsize=9, gid=key, fontweight="bold" if bold else "normal")
        boxes[key] = (x, y, width, height)

    def arrow(start, end, start_side="right", end_side="left"):
        def point(key, side):
            x, y, width, height = boxes[key]
            return {"right": (x + width / 2, y), "left": (x - width / 2, y),
                    "bottom": (x, y - height / 2), "top": (x, y + height / 2)}[side]

        (x0, y0), (x1, y1) = point(start, start_side), point(end, end_side)
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops=dict(arrowstyle="-|>", color="#333333", lw=1.2,
                                    connectionstyle="arc3" if y0 == y1 else "angle,angleA=-90,angleB=180,rad=0"))

    # The main road: pre-train, discard the head, fine-tune θ and a new ω.
    box("text", 0.95, 4.6, 1.5, "unlabeled\ntext", "data")
    box("pretrain", 3.45, 4.6, 2.7, "pre-training\nencoder θ + Softmax head\nguess the masked tokens", "pre")
    box("discard", 6.25, 4.6, 2.0, "discard the\nSoftmax head", "adapt")
    box("new_head", 8.65, 4.6, 2.0, "θ + a new ω\n(ω initialised\nat random)", "adapt")
    box("fine_tune", 11.05, 4.6, 2.0, "fine-tuning on\nlabeled data\nθ, ω → θ̂, ω̂", "adapt")
    box("deployed", 13.15, 4.6, 1.5, "f(x; θ̂, ω̂)", "model", bold=True)
    for start, end in [("text", "pretrain"), ("pretrain", "discard"), ("discard", "new_head"),
                       ("new_head", "fine_tune"), ("fine_tune", "deployed")]:
        arrow(start, end)
    # The other roads.
    box("frozen", 11.05, 2.55, 2.0, "frozen θ:\ntrain ω only", "other")
    box("frozen_model", 13.15, 2.55, 1.5, "f(x; θ, ω̂)", "model", bold=True)
    arrow("new_head", "frozen", start_side="bottom", end_side="left")
    arrow("frozen", "frozen_model")
    box("prompt", 8.0, 0.75, 4.2, "prompting: keep θ and the Softmax head;\na template with [MASK], label words;\n"
        "no parameter is trained", "other")
    box("prompt_model", 13.15, 0.75, 1.5, "label words\n→ labels", "model", bold=True)
    arrow("pretrain", "prompt", start_side="bottom", end_side="left")
    arrow("prompt", "prompt_model")
    ax.text(0.1, 5.75, "Pre-train once, then adapt: the main road (top) and two other roads", fontsize=11,
            fontweight="bold", va="bottom")
    fig.tight_layout()
    return fig
