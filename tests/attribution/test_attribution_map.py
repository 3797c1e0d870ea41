"""Attribution maps in Captum's shape: equal to Captum's ShapleyValues with the same
feature_mask, and accepted unchanged by Captum's visualisation functions."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch
from captum.attr import ShapleyValues, visualization

import captum_interactions as ci
from captum_interactions import AndOrInteractions

matplotlib.use("Agg")


class TinyConvNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.head = torch.nn.Linear(4 * 6 * 6, 3)

    def forward(self, x):
        return self.head(torch.tanh(self.conv(x)).flatten(1))


@pytest.fixture(scope="module")
def images():
    torch.manual_seed(0)
    model = TinyConvNet().double().eval()
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    # four 3x3 superpixels shared by both images and all channels, one pixel of background
    segments = torch.arange(4).reshape(2, 2).repeat_interleave(3, 0).repeat_interleave(3, 1)
    segments[0, 0] = -1
    feature_mask = segments.expand(1, 3, 6, 6).clone()
    return model, x, feature_mask


def test_batch_maps_equal_captum_shapley_values(images):
    model, x, feature_mask = images
    results = AndOrInteractions(model).attribute(
        x, target=1, feature_mask=feature_mask, perturbations_per_eval=16, value="raw",
        mode="none")
    maps = ci.attribution_maps(results, feature_mask)
    # Captum has no background id: there the background pixel joins segment 0
    captum_mask = feature_mask.clamp(min=0)
    captum = ShapleyValues(model).attribute(x, target=1, feature_mask=captum_mask)
    captum = captum.double()  # Captum accumulates in float32
    players = feature_mask.expand_as(x) >= 0
    assert maps.shape == x.shape
    assert torch.all(maps[~players] == 0)
    ours_again = AndOrInteractions(model).attribute(
        x, target=1, feature_mask=captum_mask, perturbations_per_eval=16, value="raw",
        mode="none")
    assert torch.allclose(ci.attribution_maps(ours_again, captum_mask), captum, atol=1e-6)
    assert torch.allclose(maps[0], results[0].attribution_map(feature_mask[0]))


def test_maps_go_into_captum_image_visualisation_unchanged(images):
    model, x, feature_mask = images
    result = AndOrInteractions(model).attribute(
        x[:1], target=0, feature_mask=feature_mask, perturbations_per_eval=16)[0]
    attr = result.attribution_map(feature_mask[0])  # [3, 6, 6], like x[0]
    image = np.transpose(x[0].numpy(), (1, 2, 0))
    _fig, ax = visualization.visualize_image_attr(
        np.transpose(attr.numpy(), (1, 2, 0)), (image - image.min()) / np.ptp(image),
        method="blended_heat_map", sign="all", use_pyplot=False)
    assert ax.images, "Captum drew no image"
    banzhaf = result.attribution_map(feature_mask[0], "banzhaf", of="interactions")
    visualization.visualize_image_attr(np.transpose(banzhaf.numpy(), (1, 2, 0)),
                                       method="heat_map", sign="all", use_pyplot=False)


def test_a_token_map_goes_into_captum_visualize_text():
    pytest.importorskip("IPython")
    v = torch.tensor([0.0, 1.0, -2.0, 0.5])
    result = ci.InteractionResult(["capital", "France"], v, ci.and_transform(v), None,
                                  metadata={"input_ids": [1, 7, 8, 9],
                                            "player_positions": [[1], [3]]})
    token_map = result.attribution_map()
    assert token_map.tolist() == [0.0, 1.75, 0.0, -1.25]
    record = visualization.VisualizationDataRecord(
        token_map, 0.9, "Paris", "Paris", "Paris", float(token_map.sum()),
        ["<bos>", "capital", "of", "France"], 0.0)
    html = visualization.visualize_text([record])
    assert "capital" in html.data
    assert "France" in html.data
