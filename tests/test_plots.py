"""The figure of the paradigm that opens the course (utils.plots.plot_paradigm, lesson 00)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

from utils import plots  # noqa: E402

STAGES = ["unlabeled", "pre-training", "Softmax head", "discard", "new ω", "fine-tuning", "labeled data",
          "f(x; θ̂, ω̂)", "frozen θ", "train ω only", "prompting", "[MASK]", "label words"]


@pytest.fixture(scope="module")
def figure():
    fig = plots.plot_paradigm()
    fig.canvas.draw()
    yield fig
    plt.close(fig)


def texts(fig) -> str:
    return "\n".join(text.get_text() for ax in fig.axes for text in ax.texts)


@pytest.mark.parametrize("stage", STAGES)
def test_the_figure_names_each_stage_of_the_paradigm(figure, stage):
    assert stage in " ".join(texts(figure).split()).replace("\n", " ")


def test_the_main_road_and_the_other_two_roads_are_joined_by_arrows(figure):
    (ax,) = figure.axes
    arrows = [text.arrow_patch for text in ax.texts if isinstance(getattr(text, "arrow_patch", None), FancyArrowPatch)]
    assert len(arrows) == 9, "five on the main road, two on each other road"


def test_every_label_fits_inside_its_box(figure):
    (ax,) = figure.axes
    renderer = figure.canvas.get_renderer()
    boxes = {patch.get_gid(): patch.get_window_extent(renderer) for patch in ax.patches
             if isinstance(patch, FancyBboxPatch)}
    assert len(boxes) == 10
    for text in ax.texts:
        if text.get_gid() in boxes:
            inside, outer = text.get_window_extent(renderer), boxes[text.get_gid()]
            assert (outer.x0 <= inside.x0 and inside.x1 <= outer.x1 and outer.y0 <= inside.y0
                    and inside.y1 <= outer.y1), f"{text.get_text()!r} runs out of its box"


def test_the_deployed_model_carries_both_hats_and_the_frozen_one_only_the_head_s():
    fig = plots.plot_paradigm()
    shown = texts(fig)
    plt.close(fig)
    assert "f(x; θ̂, ω̂)" in shown and "f(x; θ, ω̂)" in shown
