"""The report's "Known answer" section: on the synthetic stand-in, every family's identity scores beside chance and the
ceiling (``v2f_bench.known_answer``), on the normalised scale 0 = chance, 1 = ceiling, and the trait probe.

Read from the stage artifact ``known_answer.json`` that every generator search of a stand-in keeps, and from the identity
table (``tables.table_identity``: the selected trial of each seed, mean over seeds with the 95 % Student-t interval).
"""

from __future__ import annotations

import math

import pandas as pd

from v2f_bench import known_answer
from v2f_bench.metrics import GALLERY_KS
from v2f_bench.report import tables

SHOWN = {"matching_1to2": "matching_1to2", **{f"recall@{k}": f"gallery_recall@{k}" for k in GALLERY_KS}}
"""Ceiling key -> the identity table's metric measured on the same protocol (1:2 matching with every impostor; Recall@K over
the study's drawn galleries of G identities, the G of the ceiling)."""


def known_answer_table(trials: pd.DataFrame, known: dict) -> pd.DataFrame:
    """One row per family and per reference level (chance, the expected ceiling, the oracle on this split), one column
    group per metric of ``SHOWN`` that the study measured: ``<metric>`` (%), ``<metric>:half`` (half-width of the 95 %
    interval over seeds), ``<metric>:normalised`` ((value - chance) / (ceiling - chance) with the expected ceiling),
    ``<metric>:above_chance`` (the interval's lower end above chance); ``n`` seeds."""
    identity = tables.table_identity(trials)
    ceiling, split, chance = known["ceiling"], known["split_ceiling"], known["chance"]
    metrics = [m for m in SHOWN if m in ceiling and SHOWN[m] in identity.columns and identity[SHOWN[m] + ":n"].sum() > 0]
    rows = [{"row": "chance", "n": math.nan, **{m: 100 * chance[m] for m in metrics}},
            {"row": f"ceiling (expected, G = {ceiling['gallery']}, {ceiling['draws']} Monte Carlo galleries)", "n": math.nan,
             **{m: 100 * ceiling[m] for m in metrics}, **{f"{m}:half": 196 * ceiling[f"{m}:se"] for m in metrics}},
            {"row": f"oracle on this study's {split['identities']} test identities", "n": math.nan, **{m: 100 * split[m] for m in metrics}}]
    for family, row in identity[identity["seeds"] > 0].iterrows():
        entry = {"row": family, "n": int(row["seeds"])}
        for m in metrics:
            value, half = row[SHOWN[m]], row[SHOWN[m] + ":half"]
            entry.update({m: value, f"{m}:half": half,
                          f"{m}:normalised": known_answer.normalised(value / 100, chance[m], ceiling[m]),
                          f"{m}:above_chance": bool(row[SHOWN[m] + ":low"] > 100 * chance[m]) if pd.notna(row[SHOWN[m] + ":low"]) else None})
        rows.append(entry)
    frame = pd.DataFrame(rows).set_index("row")
    frame.attrs["metrics"] = metrics
    return frame


def cells(frame: pd.DataFrame) -> pd.DataFrame:
    """The table as text: each cell "value ± half" in %, and for a family its normalised score in brackets."""
    metrics = frame.attrs["metrics"]
    rows = []
    for name, row in frame.iterrows():
        entry = {"": str(name), "seeds": "" if pd.isna(row["n"]) else str(int(row["n"]))}
        for m in metrics:
            text = f"{row[m]:.1f}" if pd.notna(row[m]) else "—"
            if pd.notna(row.get(f"{m}:half", math.nan)):
                text += f" ± {row[f'{m}:half']:.1f}"
            if pd.notna(row.get(f"{m}:normalised", math.nan)):
                text += f" [{row[f'{m}:normalised']:.2f}]"
            entry[tables.LABELS.get(SHOWN[m], m) + " (%)"] = text
        rows.append(entry)
    return pd.DataFrame(rows)


def render(frame: pd.DataFrame) -> str:
    """``cells`` as a Markdown table."""
    return cells(frame).to_markdown(index=False) + "\n"


def probe_lines(known: dict) -> list[str]:
    """The trait probe in sentences, with its n."""
    probe = known.get("probe") or {}
    if not probe or not isinstance(probe.get("age_r2"), float) or math.isnan(probe["age_r2"]):
        return [f"Trait probe: too few unseen identities ({probe.get('identities', 0)}) for a probe."]
    return [f"Trait probe from the voice encoder's clip embeddings of the {probe['identities']} validation and test identities it never "
            f"trained on (leave one identity out; linear): R^2 beyond sex for age {probe['age_r2']:.2f} and for body size "
            f"{probe['size_r2']:.2f} (0 = nothing beyond sex, 1 = exact); sex {100 * probe['sex_accuracy']:.0f} % correct "
            f"(majority {100 * probe['sex_chance']:.0f} %)."]


def verdict_lines(frame: pd.DataFrame) -> list[str]:
    """Which families' 1:2 matching lies above chance, and how far each got towards the ceiling."""
    if "matching_1to2" not in frame.attrs["metrics"]:
        return []
    rows = frame[frame["n"].notna()]
    above = [name for name, row in rows.iterrows() if row.get("matching_1to2:above_chance") is True]
    share = "; ".join(f"{name} {row['matching_1to2:normalised']:.2f}" for name, row in rows.iterrows())
    return [("1:2 matching above chance (95 % interval over seeds): " + (", ".join(above) if above else "no family")
             + " (a reference family is one fit whose seeds differ only in the target photos, which 1:2 matching and Recall@K do not use: "
             "its interval over seeds is 0 and says nothing of the sampling of test voices)."),
            f"Share of the way from chance to the ceiling on 1:2 matching: {share}."]
