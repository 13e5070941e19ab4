"""``qgan score IMAGES``: any set of images on the instrument; every accepted format scores alike,
and every bad input is one line naming what was wrong, with nothing written."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from qgan.core.errors import QganError
from qgan.gan.data import load_split
from qgan.gan.models import state_dict_sha256, uint8_to_images
from qgan.pipeline.score import read_images, run_score
from qgan.scoring.classifier import train_classifier
from qgan.scoring.images import array_to_images
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def instrument(tmp_path_factory):
    """A data folder (bundled: 800 train, 200 test digits) and a classifier trained on it."""
    from qgan.gan.data import source_to_data_dir
    from qgan.params import DataConfig, dict_to_params

    ws = tmp_path_factory.mktemp("score")
    source_to_data_dir(DataConfig(n_train=800, n_test=200), ws / "data")
    params = dict_to_params({"classifier": {"epochs": 2}, "evaluate": {"kid_subsets": 10, "kid_subset_size": 50}})
    model = train_classifier(load_split(ws / "data", "train"), params.classifier, torch.device("cpu"), progress=False)
    torch.save({"state_dict": model.state_dict()}, ws / "classifier.pt")
    (ws / "classifier.json").write_text(json.dumps({"extractor_sha256": state_dict_sha256(model)}))
    return ws, params


def score(instrument, images, path):
    ws, params = instrument
    if isinstance(images, dict):
        np.savez(path, **images)
    elif path.suffix == ".npy":
        np.save(path, images)
    return run_score(params, path, ws / "classifier.pt", ws / "data", ws / "classifier.json")


def test_every_format_of_the_same_digits_scores_the_same(instrument, tmp_path):
    ws, _ = instrument
    digits = load_split(ws / "data", "train").images[:300]  # (300, 28, 28) uint8, digits the reference lacks
    base = score(instrument, digits, tmp_path / "a.npy")
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i, img in enumerate(digits):
        Image.fromarray(img).save(folder / f"{i:04d}.png")
    exact = [score(instrument, {"x": digits.reshape(-1, 784)}, tmp_path / "b.npz"),
             score(instrument, digits[:, None], tmp_path / "c.npy"),
             score(instrument, uint8_to_images(digits).numpy(), tmp_path / "d.npy"),  # [-1, 1] float32
             score(instrument, None, folder)]
    for other in exact:
        assert other["metrics"] == base["metrics"] and other["class_counts"] == base["class_counts"]
    unit = score(instrument, digits / 255.0, tmp_path / "e.npy")["metrics"]  # [0, 1] float64: equal to rounding
    assert unit == pytest.approx(base["metrics"], rel=1e-4, abs=1e-6)
    assert base["n_images"] == 300 and base["n_test"] == 200 and base["family"] == ["fid", "coverage"]


def test_the_instrument_sees_few_distinct_real_digits(instrument, tmp_path):
    """Real digits only: 300 unseen real digits against 8 of them tiled to 300."""
    ws, _ = instrument
    digits = load_split(ws / "data", "train").images[:300]
    real = score(instrument, digits, tmp_path / "real.npy")["metrics"]
    tiled = score(instrument, np.tile(digits[:8], (38, 1, 1))[:300], tmp_path / "tiled.npy")["metrics"]
    print(f"real: fid {real['fid']:.2f} recall {real['recall']:.3f} coverage {real['coverage']:.3f}; "
          f"8 distinct tiled: fid {tiled['fid']:.2f} recall {tiled['recall']:.3f} coverage {tiled['coverage']:.3f}")
    assert tiled["fid"] > 3 * real["fid"] and tiled["coverage"] < real["coverage"] / 2


BAD = {
    "shape": (np.zeros((5, 28, 27), np.uint8), "shape (5, 28, 27) is not (N, 28, 28)"),
    "dtype": (np.zeros((5, 28, 28), np.int16), "dtype int16 is not uint8 or a float type"),
    "0..255 floats": (np.full((5, 28, 28), 200.0), "in neither [0, 1] nor [-1, 1] (uint8 pixels must have dtype"),
    "below -1": (np.full((5, 28, 28), -1.5), "float values in [-1.5, -1.5] are in neither"),
    "nan": (np.full((5, 28, 28), np.nan, np.float32), "3920 values are NaN or infinite"),
    "empty": (np.zeros((0, 28, 28), np.uint8), "0 image(s); at least 2 are needed"),
    "one image": (np.zeros((1, 784), np.uint8), "1 image(s); at least 2 are needed"),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_array_is_one_line_naming_what_is_wrong(case):
    array, message = BAD[case]
    with pytest.raises(QganError) as info:
        array_to_images(array, "x.npy")
    assert message in str(info.value) and str(info.value).startswith("x.npy: ") and "\n" not in str(info.value)


def test_bad_files_and_folders_are_refused(tmp_path):
    np.savez(tmp_path / "two.npz", a=np.zeros(3), b=np.zeros(3))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "text.npy").write_text("not an array")
    (tmp_path / "empty").mkdir()
    (tmp_path / "odd").mkdir()
    Image.fromarray(np.zeros((28, 30), np.uint8)).save(tmp_path / "odd" / "a.png")
    (tmp_path / "colour").mkdir()
    Image.fromarray(np.dstack([np.zeros((28, 28), np.uint8), np.full((28, 28), 255, np.uint8),
                               np.zeros((28, 28), np.uint8)])).save(tmp_path / "colour" / "a.png")
    for name, message in (("two.npz", "holds 2 arrays (a, b); save exactly one"), ("objects.npy", "not a .npy"),
                          ("text.npy", "not a .npy or .npz array"), ("empty", "no .png files in the folder"),
                          ("odd", "a 30x28 L image, not 28x28 grayscale"), ("colour", "a colour image"),
                          ("missing.npy", "no such file or folder")):
        with pytest.raises(QganError, match=message.replace("(", r"\(").replace(")", r"\)")):
            read_images(tmp_path / name)


@pytest.mark.integration
def test_the_command_prints_json_and_refuses_bad_input_in_one_line(instrument, tmp_path):
    ws, _ = instrument
    np.save(tmp_path / "good.npy", load_split(ws / "data", "test").images[:50])
    np.save(tmp_path / "bad.npy", np.zeros((4, 27, 27), np.uint8))
    before = sorted(p.name for p in tmp_path.iterdir())
    common = ["--classifier", str(ws / "classifier.pt"), "--data", str(ws / "data"),
              "--classifier-metrics", str(ws / "classifier.json")]
    good = subprocess.run([sys.executable, "-m", "qgan.cli", "score", str(tmp_path / "good.npy"), *common, "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert good.returncode == 0, good.stderr
    result = json.loads(good.stdout)
    assert result["n_images"] == 50 and result["metrics"]["precision"] > 0.9  # test digits scored against themselves
    text = subprocess.run([sys.executable, "-m", "qgan.cli", "score", str(tmp_path / "good.npy"), *common],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "primary (quality): FID-LeNet" in text.stdout and "compare only at equal N" in text.stdout
    assert "primary (diversity): coverage" in text.stdout
    bad = subprocess.run([sys.executable, "-m", "qgan.cli", "score", str(tmp_path / "bad.npy"), *common],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "shape (4, 27, 27)" in bad.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_broken_files_and_a_missing_extractor_are_one_line(instrument, tmp_path):
    ws, params = instrument
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "cut.npz").write_bytes(b"PK\x03\x04broken")
    (tmp_path / "pngs").mkdir()
    (tmp_path / "pngs" / "a.png").write_bytes(b"not a png")
    for name in ("empty.npy", "cut.npz"):
        with pytest.raises(QganError, match="not a .npy or .npz array"):
            read_images(tmp_path / name)
    with pytest.raises(QganError, match="not a readable PNG image"):
        read_images(tmp_path / "pngs")
    np.save(tmp_path / "ok.npy", load_split(ws / "data", "test").images[:10])
    with pytest.raises(QganError, match="no feature extractor; run the classifier stage"):
        run_score(params, tmp_path / "ok.npy", tmp_path / "none.pt", ws / "data", ws / "classifier.json")
    with pytest.raises(QganError, match="none.json: not found"):
        run_score(params, tmp_path / "ok.npy", ws / "classifier.pt", ws / "data", tmp_path / "none.json")
    torch.save({"weights": {}}, tmp_path / "other.pt")
    with pytest.raises(QganError, match="not a classifier checkpoint of this version"):
        run_score(params, tmp_path / "ok.npy", tmp_path / "other.pt", ws / "data", ws / "classifier.json")
