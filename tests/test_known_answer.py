"""The stand-in's known answer: the ceiling of 1:2 matching and Recall@K on constructed cases whose answer is known by
hand, the normalised scale, and the linear trait probe."""

from __future__ import annotations

import math

import numpy as np
import pytest

from v2f_bench.known_answer import Coupling, ceiling, normalised, split_ceiling, study_answer, trait_probe

SEX_ONLY = Coupling(("age", "size"), (), ())


def one_link(voice: float, face: float) -> Coupling:
    return Coupling(("age",), (("age", "jitter", voice),), (("age", "hairline", face),))


def test_with_only_sex_shared_the_ceiling_is_what_sex_alone_gives():
    """A voice of the other sex than the impostor wins for sure, of the same sex by a coin: 1/2 + 1/4. With G candidates
    the true face is drawn uniformly among the 1 + Binomial(G - 1, 1/2) of its sex: Recall@1 = 2 (1 - 2^-G) / G."""
    two, twenty = ceiling(SEX_ONLY, 2), ceiling(SEX_ONLY, 20)
    assert two["matching_1to2"] == pytest.approx(0.75, abs=4 * two["matching_1to2:se"])
    assert twenty["recall@1"] == pytest.approx(2 * (1 - 2.0**-20) / 20, abs=4 * twenty["recall@1:se"] + 1e-9)
    assert "recall@10" in twenty and "recall@2" not in two, "a K of at least G is no measurement"


def test_the_ceiling_rises_with_the_strength_of_the_links_on_both_sides():
    weak, voice_strong, both_strong = ceiling(one_link(0.3, 0.3), 10), ceiling(one_link(0.9, 0.3), 10), ceiling(one_link(0.9, 0.9), 10)
    assert ceiling(SEX_ONLY, 10)["recall@1"] < weak["recall@1"] < voice_strong["recall@1"] < both_strong["recall@1"]


def person(sex: str, voice: float, face: float) -> dict:
    return {"gender": sex, "voice_latents": {"jitter": voice}, "face_latents": {"hairline": face}}


def test_the_oracle_on_a_split_picks_the_face_whose_latent_its_voice_predicts():
    """Voice latents 2, 1, -1, -2 with rho 0.9 on both sides: w | v has mean 0.81 v and variance 0.3439, so the likelihood
    ratio against the marginal peaks at w = 0.81 v / (1 - 0.3439) (2.47 for v = 2); every voice's own face is closest."""
    people = [person("m", v, v) for v in (2.0, 1.0, -1.0, -2.0)]
    assert split_ceiling(people, one_link(0.9, 0.9)) == {"matching_1to2": 1.0, "recall@1": 1.0, "recall@2": 1.0, "gallery": 4, "identities": 4}


def test_the_oracle_on_a_split_is_misled_when_the_faces_contradict_their_voices():
    """The same voices with the faces' latents negated: the outer voices lose to all three impostors, the inner ones beat
    only the outer face of their own sign side: 1:2 = (0 + 1/3 + 1/3 + 0) / 4."""
    people = [person("m", v, -v) for v in (2.0, 1.0, -1.0, -2.0)]
    assert split_ceiling(people, one_link(0.9, 0.9))["matching_1to2"] == pytest.approx(1 / 6)


def test_a_face_of_the_other_sex_is_never_chosen():
    people = [person("m", 2.0, -2.0), person("f", -2.0, 2.0)]
    assert split_ceiling(people, one_link(0.9, 0.9))["matching_1to2"] == 1.0


def test_normalised_scores_put_chance_at_0_and_the_ceiling_at_1():
    assert normalised(0.5, 0.5, 0.8) == 0 and normalised(0.8, 0.5, 0.8) == pytest.approx(1) and normalised(0.65, 0.5, 0.8) == pytest.approx(0.5)
    assert math.isnan(normalised(0.6, 0.5, 0.5)), "no scale when the ceiling is chance itself"


def probe_data(signal: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    n, clips = 40, 3
    traits = {k: {"gender": "m" if k % 2 else "f", "age": float(rng.standard_normal()), "size": float(rng.standard_normal())} for k in range(n)}
    mixing = rng.standard_normal((3, 16))
    rows, labels = [], []
    for k, t in traits.items():
        base = np.array([t["gender"] == "m", t["age"], t["size"]], dtype=float) @ mixing
        for _ in range(clips):
            rows.append(signal * base + rng.standard_normal(16))
            labels.append(k)
    return np.array(rows), np.array(labels), traits


def test_the_probe_recovers_traits_that_the_embeddings_carry_and_finds_none_where_they_carry_none():
    carried = trait_probe(*probe_data(2.0))
    assert carried["identities"] == 40 and carried["age_r2"] > 0.8 and carried["size_r2"] > 0.8 and carried["sex_accuracy"] == 1.0
    noise = trait_probe(*probe_data(0.0))
    assert noise["age_r2"] < 0.2 and noise["size_r2"] < 0.2 and noise["sex_accuracy"] < 0.75


def manifest(splits: list[str], coupling: float = 1.0) -> dict:
    names = [f"id{k:05d}" for k in range(len(splits))]
    people = [{"voice_id": v, "gender": "m" if k % 2 else "f", "age": 0.1 * k, "size": -0.1 * k,
               "voice_latents": {"jitter": 0.1 * k}, "face_latents": {"hairline": -0.05 * k}} for k, v in enumerate(names)]
    links = [{"trait": "age", "side": "voice", "parameter": "jitter", "r": 0.4, "strength": 0.4 * coupling, "source": "test"},
             {"trait": "age", "side": "face", "parameter": "hairline", "r": 0.7, "strength": 0.7 * coupling, "source": "test"}]
    return {"identities": [{"label": k, "voice_id": v, "split": s} for k, (v, s) in enumerate(zip(names, splits))],
            "known_generator": {"coupling": coupling, "links": links, "identities": people}}


def test_a_study_on_real_data_has_no_known_answer_and_one_on_seen_identities_says_why_it_has_no_ceiling():
    assert study_answer({"identities": [], "known_generator": None}, np.zeros((0, 4)), np.zeros(0), 100) is None
    seen = study_answer(manifest(["all"] * 4), np.zeros((4, 4)), np.arange(4), 100)
    assert seen["ceiling"] is None and "identities seen in training" in seen["why"]


def test_an_identity_disjoint_study_gets_its_ceiling_at_its_gallery_and_the_chance_beside_it():
    splits = ["train"] * 6 + ["val"] * 3 + ["test"] * 5
    answer = study_answer(manifest(splits), np.random.default_rng(0).standard_normal((14, 4)), np.arange(14), 100)
    assert answer["ceiling"]["gallery"] == 5 and answer["test_identities"] == 5, "G is capped at the test identities"
    assert answer["chance"] == {"matching_1to2": 0.5, "recall@1": 0.2, "recall@2": 0.4}
    assert answer["split_ceiling"]["identities"] == 5 and answer["probe"]["identities"] == 8
