"""``compare --voice-encoders``: the same equal-budget study per voice encoder, and the report's side-by-side view."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from v2f_bench.artifacts import COMPARE_RECORD, ENCODERS_RECORD, SEARCH_RECORD
from v2f_bench.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_shared")]


def test_compare_over_voice_encoders_runs_one_named_sub_study_each_and_the_report_pairs_them_by_seed(prepared_dir, tmp_path, capsys):
    from v2f_bench.report.build import build_report

    (tmp_path / "voice.yaml").write_text("max_epochs: 1\npatience: 5\n")
    storage = tmp_path / "searches"
    code = main(["compare", "--voice-encoders", "paper-text,ge2e", "--families", "vae", "--seeds", "2", "--trials", "1", "--max-epochs", "1",
                 "--prepared", str(prepared_dir), "--run-dir", str(tmp_path / "run"), "--storage", str(storage), "--judge-epochs", "1",
                 "--voice-config", str(tmp_path / "voice.yaml"), "--name", "enc"])
    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "paper-text/vae      seed 1" in out and "ge2e/vae      seed 0" in out
    root = storage / "enc"
    assert json.loads((root / ENCODERS_RECORD).read_text())["voice_encoders"] == ["paper-text", "ge2e"]
    records = {e: json.loads((root / e / COMPARE_RECORD).read_text()) for e in ("paper-text", "ge2e")}
    for encoder, record in records.items():
        assert record["voice_encoder"] == encoder and record["seeds"] == [0, 1]
        assert record["stages"]["voice_stage"]["encoder"] == encoder
        for search in record["searches"]:
            assert json.loads((root / encoder / search["experiment"] / SEARCH_RECORD).read_text())["voice_encoder"] == encoder
    assert records["ge2e"]["stages"]["voice_stage"]["embedding_dim"] == 256, "256-d embeddings went through the generator trials"
    assert records["ge2e"]["budget"] == records["paper-text"]["budget"]
    assert records["ge2e"]["stages"]["judge_stage"] == records["paper-text"]["stages"]["judge_stage"], "one judge for both"

    from v2f_bench.status import status

    searches, _ = status([str(root)])
    assert len(searches) == 4 and all(search.finished for search in searches)

    summary = build_report([str(root)], tmp_path / "report")
    side = pd.read_csv(tmp_path / "report" / "encoders.csv")
    assert list(side["encoder"]) == ["paper-text", "ge2e"] and set(side["family"]) == {"vae"} and list(side["seeds"]) == [2, 2]
    paired = pd.read_csv(tmp_path / "report" / "encoder_paired.csv")
    assert paired[["family", "a", "b", "n_pairs"]].values.tolist() == [["vae", "ge2e", "paper-text", 2]]
    per_seed = {e: [json.loads(next((root / e / f"vae-s{k}").rglob("test_metrics.json")).read_text())["test_verification_accuracy"]
                    for k in (0, 1)] for e in ("paper-text", "ge2e")}
    expected = 100 * sum(g - p for g, p in zip(per_seed["ge2e"], per_seed["paper-text"])) / 2
    assert paired["difference"].iloc[0] == pytest.approx(expected, abs=1e-6)
    assert len(pd.read_csv(tmp_path / "report" / "trials.csv")) == summary["trials"] == 4
    assert any("2 voice encoders (paper-text, ge2e)" in p for p in summary["problems"])


@pytest.mark.parametrize(
    "argv, message",
    [
        pytest.param(["--voice-encoders", "ge2e"], "at least two voice encoders", id="one-encoder"),
        pytest.param(["--voice-encoders", "ge2e,nope"], "'nope' is not a voice encoder", id="unknown"),
        pytest.param(["--voice-encoders", "ge2e,ge2e"], "'ge2e' is listed twice", id="twice"),
        pytest.param(["--voice-encoders", "ge2e,paper-text", "--voice-encoder", "ge2e"], "give one of them", id="both-flags"),
    ],
)
def test_voice_encoder_mistakes_get_one_line(prepared_dir, tmp_path, capsys, argv, message):
    code = main(["compare", *argv, "--families", "vae", "--prepared", str(prepared_dir), "--run-dir", str(tmp_path),
                 "--storage", str(tmp_path / "searches")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and not any("Traceback" in line for line in err)
