"""The report's figures, drawn with matplotlib's Agg backend and saved as PNG.

Every function takes plain arrays or pandas frames (never an experiment directory), writes one PNG
(creating its parent directory) and returns the path it wrote:

* ``learning_curves`` - one line per trial, coloured by family, metric against epoch (or against
  cumulative training FLOPs on a log axis);
* ``expected_max_curves`` - expected best validation value after n trials per family with its
  bootstrap band (``budget.expected_max_table``), and the same against compute (trial-seconds or FLOPs);
* ``tau_curve`` - accuracy and F1 against the judge's threshold with the chosen tau marked (Fig. 4);
* ``tsne`` - a 2-d t-SNE of embeddings coloured by identity (Fig. 2); ``tsne_coords`` is its
  deterministic computation, exposed for reuse and tests;
* ``faces_grid`` - a column of real target faces beside one column per family of generated faces
  for the same test voices (Fig. 10).

Figures are built on ``matplotlib.figure.Figure`` with an explicit ``FigureCanvasAgg``: the Agg
backend is fixed here without touching pyplot's global state or the user's interactive backend, and
no figure outlives its call. Colours per family are stable: the paper's families (vae, cgan, rcgan)
always get the same colour, others follow in sorted order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

__all__ = [
    "DPI",
    "family_colors",
    "learning_curves",
    "expected_max_curves",
    "tau_curve",
    "tsne_coords",
    "tsne",
    "faces_grid",
    "ladder_curves",
]

DPI = 100
"""Resolution of every saved PNG (pixels per inch); figure sizes below are in inches."""

_KNOWN_FAMILIES = ("vae", "cgan", "rcgan")
_PALETTE = [colormaps["tab10"](i) for i in range(10)]
_TRIAL_KEYS = ("root", "experiment_path", "experiment", "trial_id")
_MAX_LEGEND = 20


# --------------------------------------------------------------------------- helpers


def family_colors(families: Sequence) -> dict:
    """A stable colour per family: vae, cgan and rcgan keep theirs; the others follow in sorted order."""
    out: dict = {}
    for k, fam in enumerate(_KNOWN_FAMILIES):
        if fam in families:
            out[fam] = _PALETTE[k]
    rest = sorted((f for f in set(families) if f not in out), key=str)
    for k, fam in enumerate(rest, start=len(_KNOWN_FAMILIES)):
        out[fam] = _PALETTE[k % len(_PALETTE)]
    return out


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, out) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # No date in the metadata: the same inputs give the same bytes (the committed reports diff cleanly).
    fig.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out


def _log_axis(ax) -> None:
    """A log x axis labelled at powers of ten only (minor ticks unlabelled, so their labels cannot overlap)."""
    from matplotlib.ticker import LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10.0))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _sorted_families(values) -> list:
    """The distinct families: vae, cgan, rcgan first (the paper's order), then the others sorted."""
    present = list(pd.unique(pd.Series(values).dropna()))
    known = [f for f in _KNOWN_FAMILIES if f in present]
    return known + sorted((f for f in present if f not in known), key=str)


# --------------------------------------------------------------------------- learning curves


def learning_curves(
    epochs: pd.DataFrame,
    metric: str,
    out: Path,
    family_col: str = "target",
    x_col: str | None = None,
    title: str | None = None,
    log_x: bool = False,
    chance: float | None = None,
) -> Path:
    """One line per trial, coloured by family: ``metric`` against the epoch; one legend entry per family;
    ``chance``, when given, a dashed grey line at the metric's chance level.

    ``epochs`` has one row per (trial, reported epoch), like ``Collection.epochs``: a trial is
    identified by whichever of ``root``, ``experiment_path``, ``experiment`` and ``trial_id`` are
    present (at least ``trial_id``); the x axis is ``x_col`` (default ``epoch``, else
    ``training_iteration``). Rows without a value of ``metric`` are skipped (a trial that failed
    before reporting draws nothing). ``x_col="train_flops"`` with ``log_x=True`` draws the metric against
    cumulative training FLOPs on a log axis (rows with x <= 0 are then skipped). Raises ``ValueError`` when a
    column is missing or no row has a value.
    """
    if x_col is None:
        x_col = next((c for c in ("epoch", "training_iteration") if c in epochs.columns), "epoch")
    keys = [c for c in _TRIAL_KEYS if c in epochs.columns]
    missing = [c for c in (metric, family_col, x_col) if c not in epochs.columns]
    if "trial_id" not in keys:
        missing.append("trial_id")
    if missing:
        raise ValueError(f"epochs frame has no column(s) {missing}; it has {list(epochs.columns)}")
    data = epochs[keys + [family_col, x_col, metric]].copy()
    data[metric] = pd.to_numeric(data[metric], errors="coerce")
    data[x_col] = pd.to_numeric(data[x_col], errors="coerce")
    data = data[np.isfinite(data[metric]) & np.isfinite(data[x_col]) & ((data[x_col] > 0) if log_x else True)]
    if data.empty:
        raise ValueError(f"no epoch has a finite value of {metric!r}")

    families = _sorted_families(data[family_col])
    colors = family_colors(families)
    fig = _new_figure(7.0, 4.5)
    ax = fig.add_subplot()
    n_trials = dict.fromkeys(families, 0)
    for _, trial in data.groupby(keys, sort=True, dropna=False):
        trial = trial.sort_values(x_col)
        fam = trial[family_col].iloc[0]
        n_trials[fam] += 1
        style = {"marker": "o", "markersize": 3} if len(trial) == 1 else {}
        ax.plot(trial[x_col], trial[metric], color=colors[fam], alpha=0.6, linewidth=1.2, **style)
    handles = [Line2D([], [], color=colors[f], linewidth=2.0, label=f"{f} ({n_trials[f]} trial{'s' * (n_trials[f] != 1)})") for f in families]
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle="--", linewidth=1.2)
        handles.append(Line2D([], [], color="grey", linestyle="--", label=f"chance ({chance:.3g})"))
    ax.legend(handles=handles, title=family_col, loc="best", fontsize="small")
    ax.set_xlabel(x_col.replace("_", " ") + (" (log scale)" if log_x else ""))
    ax.set_ylabel(metric)
    if log_x:
        _log_axis(ax)
    elif x_col in ("epoch", "training_iteration"):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    ax.set_title(title or f"Learning curves: {metric}")
    return _save(fig, out)


def ladder_curves(table: pd.DataFrame, out: Path, title: str | None = None) -> Path:
    """Test Table I (%) of each family at each rung of the budget (``report.ladder.ladder_table``) against the training FLOPs
    spent there (log scale) and, in a second panel when the ladder recorded them, against the total FLOPs (training and
    evaluation: what a diffusion sampler pays per face shows there): the mean over seeds with its 95 % interval as a band,
    and each family's chance line dashed; a reference family (fitted once, no training FLOPs) as a dotted level."""
    if table.empty:
        raise ValueError("the ladder table is empty")
    families = _sorted_families(table["family"])
    colors = family_colors(families)
    axes_x = [("train_flops", "training FLOPs spent (log scale)")]
    if "total_flops" in table and table.loc[table["status"] != "reference", "total_flops"].notna().any():
        axes_x.append(("total_flops", "training + evaluation FLOPs spent (log scale)"))
    fig = _new_figure(7.0 * len(axes_x), 4.5)
    axes = fig.subplots(1, len(axes_x), sharey=True, squeeze=False)[0]
    for ax, (x_col, x_label) in zip(axes, axes_x):
        for fam in families:
            part = table[table["family"] == fam].sort_values(x_col)
            x, mean, half = (part[c].to_numpy(dtype=float) for c in (x_col, "mean", "half"))
            n = int(part["n"].max())
            if (part["status"] == "reference").all():  # fitted once, no FLOPs to place it at: a level across the budget
                ax.axhline(float(np.nanmean(mean)), color=colors[fam], linestyle=":", linewidth=1.5, label=f"{fam} (reference, n={n} seeds)")
                continue
            ax.plot(x, mean, color=colors[fam], marker="o", markersize=3, linewidth=1.8, label=f"{fam} (n={n} seeds)")
            if np.isfinite(half).any():
                ax.fill_between(x, mean - half, mean + half, color=colors[fam], alpha=0.2, linewidth=0)
            ax.plot(x, part["chance"].to_numpy(dtype=float), color=colors[fam], linestyle="--", linewidth=1.0, alpha=0.7)
        _log_axis(ax)
        ax.set_xlabel(x_label)
        ax.grid(True, alpha=0.3)
    axes[0].plot([], [], color="grey", linestyle="--", label="chance line (mean face)")
    axes[0].set_ylabel("test Table I accuracy (%)")
    axes[0].legend(loc="best", fontsize="small")
    fig.suptitle(title or "Table I along the ladder of budgets")
    return _save(fig, out)


def compute_costs(table: pd.DataFrame, out: Path, title: str | None = None) -> Path:
    """What each family spent (``report.compute.compute_table``, mean over its searches): training and evaluation FLOPs
    per search as stacked bars, and beside them the FLOPs of generating one face (log scales); a cost of 0 (a reference
    family's lookup) is written as a label instead of a bar."""
    if table.empty:
        raise ValueError("the compute table is empty")
    means = table.groupby("family", sort=False)[["spent_flops", "spent_eval_flops", "flops_per_face"]].mean(numeric_only=True)
    families = [f for f in _sorted_families(table["family"]) if f in means.index]
    colors = family_colors(families)
    fig = _new_figure(8.5, 0.6 + 0.45 * len(families))
    spent_ax, face_ax = fig.subplots(1, 2, sharey=True)
    rows = np.arange(len(families))
    train = means.loc[families, "spent_flops"].to_numpy(dtype=float)
    evaluation = means.loc[families, "spent_eval_flops"].to_numpy(dtype=float)
    per_face = means.loc[families, "flops_per_face"].to_numpy(dtype=float)
    shade = [colors[f] for f in families]
    spent_ax.barh(rows, np.where(train > 0, train, np.nan), color=shade, label="training")
    spent_ax.barh(rows, np.where(evaluation > 0, evaluation, np.nan), left=np.where(train > 0, train, 0), color=shade, alpha=0.35,
                  hatch="//", label="evaluation")
    face_ax.barh(rows, np.where(per_face > 0, per_face, np.nan), color=shade)
    for ax, values in ((spent_ax, train + np.nan_to_num(evaluation)), (face_ax, per_face)):
        _log_axis(ax)
        ax.grid(True, axis="x", alpha=0.3)
        for row, value in zip(rows, values):
            if not np.isfinite(value) or value <= 0:
                ax.text(0.02, row, "0 (not recorded)" if not np.isfinite(value) else "0", transform=ax.get_yaxis_transform(), va="center",
                        fontsize="small")
    spent_ax.set_yticks(rows, families)
    spent_ax.invert_yaxis()
    spent_ax.set_xlabel("FLOPs per search (log scale)")
    spent_ax.legend(loc="lower right", fontsize="small")
    face_ax.set_xlabel("FLOPs to generate one face (log scale)")
    fig.suptitle(title or "Compute: training and evaluation per search, and sampling per face (mean over seeds)")
    return _save(fig, out)


# --------------------------------------------------------------------------- expected maximum


def _curve_panel(ax, table: pd.DataFrame, family_col: str, x_col: str, colors: dict) -> None:
    for fam in _sorted_families(table[family_col]):
        part = table[table[family_col] == fam].sort_values(x_col)
        x = part[x_col].to_numpy(dtype=float)
        n_trials = int(part["n_trials"].iloc[0]) if "n_trials" in part.columns else None
        label = f"{fam} ({n_trials} trials)" if n_trials is not None else str(fam)
        marker = "o" if len(part) <= 30 else None
        ax.plot(x, part["estimate"], color=colors[fam], linewidth=1.8, marker=marker, markersize=3, label=label)
        if {"low", "high"} <= set(part.columns):
            ax.fill_between(x, part["low"].to_numpy(dtype=float), part["high"].to_numpy(dtype=float), color=colors[fam], alpha=0.2, linewidth=0)
    ax.grid(True, alpha=0.3)
    ax.legend(title=family_col, loc="best", fontsize="small")


def expected_max_curves(
    table: pd.DataFrame,
    out_n: Path,
    out_time: Path | None,
    metric_label: str,
    family_col: str | None = None,
    time_label: str = "compute (trial-seconds)",
    log_time: bool = False,
) -> dict[str, Path | None]:
    """Expected best validation value after n trials per family, with the bootstrap band (Dodge et al. 2019).

    ``table`` is ``budget.expected_max_table``'s frame: one row per (family, n) with ``estimate``,
    ``low``, ``high`` and optionally ``time`` and ``n_trials``. ``family_col`` defaults to
    ``family``, else ``target`` (whichever the table has). Writes the curve against n to ``out_n``
    and, when ``out_time`` is given and the table has a ``time`` column, against compute to
    ``out_time`` (``time_label`` names its unit, e.g. training FLOPs; ``log_time`` puts it on a log axis).
    Returns ``{"n": path, "time": path or None}``.
    """
    if family_col is None:
        family_col = next((c for c in ("family", "target") if c in table.columns), "family")
    missing = [c for c in (family_col, "n", "estimate") if c not in table.columns]
    if missing:
        raise ValueError(f"expected-max table has no column(s) {missing}; it has {list(table.columns)}")
    if table.empty:
        raise ValueError("expected-max table is empty")
    colors = family_colors(_sorted_families(table[family_col]))
    written: dict[str, Path | None] = {"n": None, "time": None}

    fig = _new_figure(7.0, 4.5)
    ax = fig.add_subplot()
    _curve_panel(ax, table, family_col, "n", colors)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("number of trials n")
    ax.set_ylabel(f"expected best {metric_label}")
    ax.set_title(f"Expected best {metric_label} after n trials (95 % bootstrap band)")
    written["n"] = _save(fig, out_n)

    if out_time is not None and "time" in table.columns and table["time"].notna().any():
        fig = _new_figure(7.0, 4.5)
        ax = fig.add_subplot()
        _curve_panel(ax, table.dropna(subset=["time"]), family_col, "time", colors)
        ax.set_xlabel(time_label + (" (log scale)" if log_time else ""))
        if log_time:
            _log_axis(ax)
        ax.set_ylabel(f"expected best {metric_label}")
        ax.set_title(f"Expected best {metric_label}\nagainst {time_label} (95 % bootstrap band)")
        written["time"] = _save(fig, out_time)
    return written


# --------------------------------------------------------------------------- tau


def tau_curve(curve: Mapping[str, Sequence[float]], tau: float, out: Path, title: str | None = None) -> Path:
    """Accuracy and F1 of "same iff d < tau" against tau, with the chosen tau marked (the paper's Fig. 4).

    ``curve`` holds equal-length lists ``tau``, ``accuracy`` and ``f1`` (``judge``'s calibration curve;
    other keys are ignored).
    """
    missing = [k for k in ("tau", "accuracy", "f1") if k not in curve]
    if missing:
        raise ValueError(f"tau curve has no {missing}; it has {sorted(curve)}")
    x = np.asarray(curve["tau"], dtype=float)
    acc = np.asarray(curve["accuracy"], dtype=float)
    f1 = np.asarray(curve["f1"], dtype=float)
    if not (x.ndim == acc.ndim == f1.ndim == 1 and x.size == acc.size == f1.size and x.size >= 1):
        raise ValueError(f"tau, accuracy and f1 must be 1-d lists of one length, got {x.shape}, {acc.shape}, {f1.shape}")
    order = np.argsort(x, kind="stable")
    x, acc, f1 = x[order], acc[order], f1[order]

    fig = _new_figure(6.5, 4.2)
    ax = fig.add_subplot()
    ax.plot(x, acc, color=_PALETTE[0], linewidth=1.8, label="accuracy")
    ax.plot(x, f1, color=_PALETTE[1], linewidth=1.8, label="F1")
    tau = float(tau)
    at_acc, at_f1 = float(np.interp(tau, x, acc)), float(np.interp(tau, x, f1))
    ax.axvline(tau, color="0.3", linestyle="--", linewidth=1.0, label=f"chosen tau = {tau:.3g}")
    ax.plot([tau, tau], [at_acc, at_f1], linestyle="none", marker="o", color="0.2", markersize=5)
    ax.annotate(f"accuracy {at_acc:.3f}\nF1 {at_f1:.3f}", (tau, min(at_acc, at_f1)), textcoords="offset points", xytext=(6, -30),
                fontsize="small", bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8, "linewidth": 0})
    ax.set_xlabel("threshold tau (same identity iff distance < tau)")
    ax.set_ylabel("score")
    ax.set_ylim(-0.02, 1.05)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    ax.set_title(title or "Judge: accuracy and F1 against tau")
    return _save(fig, out)


# --------------------------------------------------------------------------- t-SNE


def tsne_coords(embeddings: np.ndarray, seed: int = 0, max_points: int = 1500) -> tuple[np.ndarray, np.ndarray]:
    """(2-d coordinates, indices of the rows used): scikit-learn t-SNE of at most ``max_points`` rows.

    Rows beyond ``max_points`` are subsampled without replacement by ``numpy.random.default_rng(seed)``
    (kept in their original order); perplexity is min(30, (N - 1) / 3) for the N rows used, PCA
    initialisation, ``random_state=seed``, one OpenMP thread: the same inputs and seed give the
    same coordinates.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be (N, D), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("embeddings have non-finite values")
    index = np.arange(x.shape[0])
    if x.shape[0] > max_points:
        index = np.sort(np.random.default_rng(seed).choice(x.shape[0], size=max_points, replace=False))
    x = x[index]
    n = x.shape[0]
    if n < 4:
        raise ValueError(f"t-SNE needs at least 4 embeddings, got {n}")
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    perplexity = min(30.0, (n - 1) / 3.0)
    init = "pca" if x.shape[1] >= 2 else "random"
    # One OpenMP thread: a few seconds at 1500 points, and no spin-waiting collapse when the
    # machine is busy with other work (seen: 200 points taking 10+ s on a loaded 2-core box).
    with threadpool_limits(limits=1, user_api="openmp"):
        coords = TSNE(n_components=2, perplexity=perplexity, init=init, learning_rate="auto", random_state=seed).fit_transform(x)
    return coords, index


def tsne(
    embeddings: np.ndarray,
    labels: np.ndarray,
    title: str,
    out: Path,
    seed: int = 0,
    names: Mapping | Sequence | None = None,
    max_points: int = 1500,
) -> Path:
    """A t-SNE scatter of ``embeddings`` (N, D) coloured by identity ``labels`` (N,) (the paper's Fig. 2).

    ``names`` maps a label to the identity's name (a dict, or a sequence indexed by integer labels);
    the legend shows names when given, else the labels, and is left out above 20 identities (the
    count goes in the title). See ``tsne_coords`` for the subsampling and the t-SNE settings.
    """
    labels = np.asarray(labels)
    x = np.asarray(embeddings)
    if labels.ndim != 1 or x.ndim != 2 or labels.shape[0] != x.shape[0]:
        raise ValueError(f"labels must be (N,) for embeddings (N, D): got {labels.shape} and {x.shape}")
    coords, index = tsne_coords(x, seed=seed, max_points=max_points)
    labels = labels[index]
    classes = sorted(pd.unique(labels), key=lambda v: (str(type(v)), v))
    if len(classes) <= 10:
        cmap = [_PALETTE[k] for k in range(len(classes))]
    elif len(classes) <= 20:
        cmap = [colormaps["tab20"](k) for k in range(len(classes))]
    else:
        cmap = [colormaps["turbo"](k / max(1, len(classes) - 1)) for k in range(len(classes))]

    def name_of(label) -> str:
        if names is None:
            return str(label)
        try:
            return str(names[label])
        except (KeyError, IndexError, TypeError):
            return str(label)

    fig = _new_figure(6.5, 5.5)
    ax = fig.add_subplot()
    for color, cls in zip(cmap, classes):
        sel = labels == cls
        ax.scatter(coords[sel, 0], coords[sel, 1], s=12, color=color, alpha=0.8, linewidths=0, label=name_of(cls))
    subtitle = f"{len(labels)} points, {len(classes)} identities"
    if len(index) < x.shape[0]:
        subtitle += f" (subsampled from {x.shape[0]})"
    if len(classes) <= _MAX_LEGEND:
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="x-small", markerscale=1.5, frameon=False)
    ax.set_title(f"{title}\n{subtitle}", fontsize="medium")
    ax.set_xticks([])
    ax.set_yticks([])
    return _save(fig, out)


# --------------------------------------------------------------------------- faces


def _check_faces(images, name: str) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"{name} must be uint8 images (K, H, W, 3), got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8 images, got dtype {arr.dtype}")
    return arr


def faces_grid(
    real: np.ndarray,
    generated: Mapping[str, np.ndarray],
    out: Path,
    row_labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Real target faces beside each family's generated faces for the same test voices (the paper's Fig. 10).

    ``real`` is uint8 (K, H, W, 3); ``generated`` maps a family to uint8 (K, H', W', 3) whose row k
    was generated from the voice of the person in ``real[k]`` (sizes may differ between columns).
    Columns: "real", then the families in the order given. ``row_labels`` (K strings, e.g. the
    identities) go to the left of each row.
    """
    real = _check_faces(real, "real")
    k = real.shape[0]
    if k < 1:
        raise ValueError("faces_grid needs at least one face")
    columns = [("real", real)]
    for fam, imgs in generated.items():
        imgs = _check_faces(imgs, f"generated[{fam!r}]")
        if imgs.shape[0] != k:
            raise ValueError(f"generated[{fam!r}] has {imgs.shape[0]} faces for {k} real faces; rows must match voice by voice")
        columns.append((str(fam), imgs))
    if row_labels is not None and len(row_labels) != k:
        raise ValueError(f"row_labels has {len(row_labels)} entries for {k} rows")

    cell = 1.3
    label_w = 1.2 if row_labels is not None else 0.0
    fig = _new_figure(label_w + cell * len(columns), 0.5 + (0.35 if title else 0.0) + cell * k)
    axes = fig.subplots(k, len(columns), squeeze=False)
    for c, (name, imgs) in enumerate(columns):
        for r in range(k):
            ax = axes[r, c]
            ax.imshow(imgs[r], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if r == 0:
                ax.set_title(name, fontsize="medium")
            if c == 0 and row_labels is not None:
                ax.set_ylabel(str(row_labels[r]), rotation=0, ha="right", va="center", fontsize="small")
    if title:
        fig.suptitle(title)
    return _save(fig, out)


# --------------------------------------------------------------------------- Pareto fronts


def pareto_fronts(
    table: pd.DataFrame,
    x_name: str,
    y_name: str,
    out: Path,
    factors: tuple[float, float] = (1.0, 1.0),
    paper: Mapping[str, tuple[float, float]] | None = None,
) -> Path:
    """Each family's trials on test values (faint) and its non-dominated ones (chosen on validation)
    joined as a front; the paper's published points as stars. Values are multiplied by ``factors``
    (to the paper's scales), ``table`` comes from ``report.pareto.pareto_table``."""
    fig = _new_figure(6.4, 4.6)
    ax = fig.add_subplot()
    families = _sorted_families(table["target"])
    colors = family_colors(list(families) + list(paper or {}))
    for family in families:
        mine = table[table["target"] == family]
        x, y = mine[f"test:{x_name}"] * factors[0], mine[f"test:{y_name}"] * factors[1]
        ax.scatter(x, y, color=colors[family], alpha=0.25, s=18)
        front = mine[mine["non_dominated"]].sort_values(f"test:{x_name}")
        ax.plot(front[f"test:{x_name}"] * factors[0], front[f"test:{y_name}"] * factors[1], marker="o", color=colors[family],
                linewidth=1.5, label=f"{family} (non-dominated on val)")
    for family, point in (paper or {}).items():
        ax.scatter(*point, marker="*", s=160, color=colors[family], edgecolor="0.1", zorder=3)
        ax.annotate(f"paper {family}", point, textcoords="offset points", xytext=(6, 4), fontsize="small")
    if paper:
        ax.scatter([], [], marker="*", s=120, color="0.6", edgecolor="0.1", label="paper (Agarwal et al.)")
    ax.set_xlabel(f"test {x_name}" + (" (%)" if factors[0] == 100 else ""))
    ax.set_ylabel(f"test {y_name}" + (" (%)" if factors[1] == 100 else ""))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    ax.set_title("Pareto fronts: chosen on validation, shown on test")
    return _save(fig, out)
