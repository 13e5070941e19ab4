import numpy as np
from PIL import Image

from qgan.core.plots import evenly_spaced, save_epoch_grids


def test_evenly_spaced_keeps_first_and_last():
    assert evenly_spaced(list(range(1, 61)), 6) == [1, 13, 25, 36, 48, 60]
    assert evenly_spaced([1, 2], 6) == [1, 2] and evenly_spaced([7], 6) == [7]


def test_epoch_grids_one_panel_per_picked_epoch(tmp_path):
    grids = {e: np.full((10, 10), e, dtype=np.uint8) for e in range(1, 61)}
    save_epoch_grids(grids, tmp_path / "epochs.png", "t", most=6)
    save_epoch_grids({1: grids[1]}, tmp_path / "one.png", "t")
    wide, narrow = Image.open(tmp_path / "epochs.png").size, Image.open(tmp_path / "one.png").size
    assert wide[0] > 4 * narrow[0] and wide[1] == narrow[1]
