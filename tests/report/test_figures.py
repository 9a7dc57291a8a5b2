"""The report's figures: each function writes a real PNG of a sensible size from small synthetic inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from v2f_bench.report.budget import expected_max_table
from v2f_bench.report.figures import (
    DPI,
    expected_max_curves,
    faces_grid,
    family_colors,
    learning_curves,
    tau_curve,
    tsne,
    tsne_coords,
)

FAMILIES = ["vae", "cgan", "rcgan"]


def assert_png(path: Path, min_px: int = 300, max_px: int = 2000) -> tuple[int, int]:
    """A non-empty PNG whose width and height lie in [min_px, max_px] and that is not one flat colour."""
    path = Path(path)
    assert path.is_file() and path.stat().st_size > 1000, f"{path} missing or tiny"
    with Image.open(path) as img:
        assert img.format == "PNG"
        width, height = img.size
        grey = np.asarray(img.convert("L"), dtype=float)
    assert min_px <= width <= max_px and min_px <= height <= max_px, (width, height)
    assert grey.std() > 5.0, "figure is blank"
    return width, height


@pytest.fixture
def epochs() -> pd.DataFrame:
    """Like Collection.epochs: 3 families x 3 trials x 5 epochs, one trial that failed before reporting."""
    rng = np.random.default_rng(0)
    rows = []
    for fam in FAMILIES:
        for t in range(3):
            for epoch in range(1, 6):
                rows.append({"experiment": f"exp_{fam}", "target": fam, "trial_id": f"{fam}_{t}", "epoch": epoch,
                             "training_iteration": epoch, "val_accuracy": float(rng.uniform(0, epoch / 5))})
    rows.append({"experiment": "exp_vae", "target": "vae", "trial_id": "vae_dead", "epoch": 1,
                 "training_iteration": 1, "val_accuracy": float("nan")})
    return pd.DataFrame(rows)


@pytest.fixture
def trials() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({
        "family": np.repeat(FAMILIES, 6),
        "val_accuracy": rng.uniform(0.2, 0.9, 18),
        "time_s": rng.uniform(10, 60, 18),
    })


# --------------------------------------------------------------------------- learning curves


def test_learning_curves_writes_png(epochs, tmp_path):
    out = learning_curves(epochs, "val_accuracy", tmp_path / "sub" / "lc.png")
    assert out == tmp_path / "sub" / "lc.png"
    assert assert_png(out) == (7 * DPI, int(4.5 * DPI))


def test_learning_curves_falls_back_to_training_iteration(epochs, tmp_path):
    assert_png(learning_curves(epochs.drop(columns="epoch"), "val_accuracy", tmp_path / "lc.png"))


def test_learning_curves_refuses_missing_metric_and_empty(epochs, tmp_path):
    with pytest.raises(ValueError, match="no_such_metric"):
        learning_curves(epochs, "no_such_metric", tmp_path / "x.png")
    with pytest.raises(ValueError, match="finite"):
        learning_curves(epochs.assign(val_accuracy=np.nan), "val_accuracy", tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


# --------------------------------------------------------------------------- expected max


def test_expected_max_curves_against_n_and_time(trials, tmp_path):
    table = expected_max_table(trials, "val_accuracy", "family", "time_s", n_boot=50)
    written = expected_max_curves(table, tmp_path / "n.png", tmp_path / "time.png", "identity accuracy")
    assert written == {"n": tmp_path / "n.png", "time": tmp_path / "time.png"}
    assert_png(written["n"])
    assert_png(written["time"])


def test_expected_max_curves_without_time_writes_only_n(trials, tmp_path):
    table = expected_max_table(trials.rename(columns={"family": "target"}), "val_accuracy", "target", n_boot=50)
    written = expected_max_curves(table, tmp_path / "n.png", tmp_path / "time.png", "accuracy")
    assert written["time"] is None and not (tmp_path / "time.png").exists()
    assert_png(written["n"])


def test_expected_max_curves_refuses_a_wrong_table(tmp_path):
    with pytest.raises(ValueError, match="estimate"):
        expected_max_curves(pd.DataFrame({"family": ["vae"], "n": [1]}), tmp_path / "n.png", None, "acc")


def test_family_colours_are_stable():
    assert family_colors(["rcgan", "vae"])["vae"] == family_colors(["vae", "cgan", "other"])["vae"]
    colours = family_colors(["vae", "cgan", "rcgan", "x", "y"])
    assert len(set(colours.values())) == 5


# --------------------------------------------------------------------------- tau


def test_tau_curve_writes_png(tmp_path):
    grid = np.linspace(0.0, 2.0, 41)
    curve = {"tau": grid.tolist(), "accuracy": (1 - abs(grid - 1) / 2).tolist(), "f1": (1 - abs(grid - 1.2) / 2).tolist(),
             "precision": grid.tolist()}
    assert_png(tau_curve(curve, 1.0, tmp_path / "tau.png"))


def test_tau_curve_refuses_missing_or_ragged_lists(tmp_path):
    with pytest.raises(ValueError, match="f1"):
        tau_curve({"tau": [0.1, 0.2], "accuracy": [0.5, 0.6]}, 0.1, tmp_path / "tau.png")
    with pytest.raises(ValueError, match="one length"):
        tau_curve({"tau": [0.1, 0.2], "accuracy": [0.5, 0.6], "f1": [0.5]}, 0.1, tmp_path / "tau.png")


# --------------------------------------------------------------------------- t-SNE


def clusters(n_ids: int = 4, per_id: int = 12, dim: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(4.0 * i, 1.0, (per_id, dim)) for i in range(n_ids)])
    return x, np.repeat(np.arange(n_ids), per_id)


def test_tsne_writes_png_and_is_deterministic(tmp_path):
    x, labels = clusters()
    a = tsne(x, labels, "voice embeddings", tmp_path / "a.png", seed=3, names={0: "Alice", 1: "Bob", 2: "Carol", 3: "Dan"})
    b = tsne(x, labels, "voice embeddings", tmp_path / "b.png", seed=3, names={0: "Alice", 1: "Bob", 2: "Carol", 3: "Dan"})
    assert_png(a)
    assert a.read_bytes() == b.read_bytes()
    c1, i1 = tsne_coords(x, seed=3)
    c2, i2 = tsne_coords(x, seed=3)
    assert c1.shape == (48, 2) and np.array_equal(i1, np.arange(48))
    np.testing.assert_array_equal(c1, c2)


def test_tsne_separates_clusters():
    x, labels = clusters(n_ids=3, per_id=15)
    coords, _ = tsne_coords(x, seed=0)
    centres = np.stack([coords[labels == k].mean(axis=0) for k in range(3)])
    spread = max(np.linalg.norm(coords[labels == k] - centres[k], axis=1).mean() for k in range(3))
    gaps = [np.linalg.norm(centres[i] - centres[j]) for i in range(3) for j in range(i + 1, 3)]
    assert min(gaps) > 2 * spread


def test_tsne_subsamples_deterministically(tmp_path):
    x, labels = clusters(n_ids=4, per_id=15)
    c1, i1 = tsne_coords(x, seed=1, max_points=30)
    c2, i2 = tsne_coords(x, seed=1, max_points=30)
    assert len(i1) == 30 and len(set(i1)) == 30 and np.all(np.diff(i1) > 0)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_array_equal(c1, c2)
    assert not np.array_equal(i1, tsne_coords(x, seed=2, max_points=30)[1])
    assert_png(tsne(x, labels.astype(str), "faces", tmp_path / "t.png", seed=1, max_points=30))


def test_tsne_refuses_bad_input(tmp_path):
    x, labels = clusters()
    with pytest.raises(ValueError, match="labels"):
        tsne(x, labels[:-1], "t", tmp_path / "t.png")
    with pytest.raises(ValueError, match="at least 4"):
        tsne_coords(x[:3])
    with pytest.raises(ValueError, match="non-finite"):
        tsne_coords(np.where(np.eye(48, 8) > 0, np.nan, x))


# --------------------------------------------------------------------------- faces


def faces(k: int, size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (k, size, size, 3), dtype=np.uint8)


def test_faces_grid_writes_png_growing_with_rows(tmp_path):
    real = faces(3, 32, 0)
    generated = {"vae": faces(3, 32, 1), "cgan": faces(3, 64, 2), "rcgan": faces(3, 64, 3)}
    w3, h3 = assert_png(faces_grid(real, generated, tmp_path / "g3.png", row_labels=["id0", "id1", "id2"]))
    w5, h5 = assert_png(faces_grid(faces(5, 32, 0), {k: faces(5, 32, 9) for k in generated}, tmp_path / "g5.png"))
    assert h5 > h3


def test_faces_grid_refuses_mismatched_inputs(tmp_path):
    real = faces(3, 32, 0)
    with pytest.raises(ValueError, match="rows must match"):
        faces_grid(real, {"vae": faces(2, 32, 1)}, tmp_path / "g.png")
    with pytest.raises(ValueError, match="uint8"):
        faces_grid(real.astype(np.float32), {}, tmp_path / "g.png")
    with pytest.raises(ValueError, match=r"\(K, H, W, 3\)"):
        faces_grid(real[..., :1], {}, tmp_path / "g.png")
    with pytest.raises(ValueError, match="row_labels"):
        faces_grid(real, {"vae": faces(3, 32, 1)}, tmp_path / "g.png", row_labels=["a"])


def test_learning_curves_against_cumulative_flops_on_a_log_axis(tmp_path):
    epochs = pd.DataFrame({"trial_id": ["a", "a", "b", "b"], "target": ["vae", "vae", "cgan", "cgan"],
                           "train_flops": [0.0, 1e12, 5e11, 5e12], "val_acc": [0.1, 0.2, 0.15, 0.3]})
    out = learning_curves(epochs, "val_acc", tmp_path / "flops.png", x_col="train_flops", log_x=True)
    assert_png(out)
    with pytest.raises(ValueError, match="no epoch has a finite value"):
        learning_curves(epochs.assign(train_flops=0.0), "val_acc", tmp_path / "none.png", x_col="train_flops", log_x=True)


def test_expected_max_against_flops_is_drawn_on_a_log_axis(tmp_path):
    table = pd.DataFrame({"family": ["vae"] * 3, "n": [1, 2, 3], "estimate": [0.5, 0.6, 0.65], "low": [0.4, 0.5, 0.6],
                          "high": [0.6, 0.7, 0.7], "time": [1e12, 2e12, 3e12], "n_trials": [3] * 3})
    written = expected_max_curves(table, tmp_path / "n.png", tmp_path / "flops.png", "acc", time_label="training FLOPs", log_time=True)
    assert_png(written["time"])
