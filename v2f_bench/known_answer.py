"""The stand-in's known answer: the best score any method could reach on its identity-disjoint protocol, and what the
voice encoder's embeddings of unseen people tell about their traits.

The synthetic stand-in is made by a known generator (``data.synth_traits``): every identity draws its sex and two latent
traits z (age and body size, standard normal), and each voice or face parameter linked to a trait is drawn through a
Gaussian copula whose standard-normal latent is rho z_t + sqrt(1 - rho^2) e, with e independent of everything else (rho:
the link's strength at the dataset's coupling). Everything a voice carries about a face is its sex and its linked voice
latents v; the rest of the face is independent of the voice. So no method, whatever it does with voices and photos, can
pick the right face of an unseen person more often, in expectation, than an oracle that knows the voice's sex and v exactly
and each candidate face's sex and linked face latents w exactly, and ranks the candidates by the likelihood ratio

    score_k = log N(w_k; A v, S) - log N(w_k; 0, S0),   -inf when sex_k != the voice's sex

(w | v ~ N(A v, S) and w ~ N(0, S0) follow from the links, ``Coupling.face_given_voice``). Ranking by it is the
Bayes-optimal rule for picking the true face among candidates, so it bounds 1:2 matching and Recall@K; ties, which occur
only when nothing beyond sex is linked, are broken at random. ``ceiling`` gives its expected score over identities drawn
as the stand-in draws them (Monte Carlo, with its standard error), ``split_ceiling`` the same oracle on the study's own
test identities (one realisation: a method can beat it on a finite split by luck, never in expectation). ``normalised``
puts a measured score on the scale 0 = chance, 1 = ceiling.

Table I on seen identities has no such bound below 100 %: a voice of a training identity identifies it, and a generator that
reproduced its target photo would be accepted every time; only the judge's errors stand between it and 100 %.

``trait_probe`` is the linear probe of the issue that added this: from the voice encoder's clip embeddings of identities it
never trained on, leave-one-identity-out ridge regression to age and size (R^2, beyond sex: sex is a covariate) and a
nearest-class-mean classifier to sex (accuracy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from v2f_bench.metrics import GALLERY_KS, METRICS

MONTE_CARLO_DRAWS = 20000
"""Galleries drawn for the expected ceiling: a standard error under 0.4 points for any score."""
PROBE_ALPHAS = (1.0, 10.0, 100.0, 1e3, 1e4, 1e5)
"""Ridge penalties the probe chooses among, by leave-one-out error on the identities other than the held-out one: up to
penalties that shrink the prediction to the sex mean, since a study has few unseen identities (40 in ``unseen``) for
embeddings of 128 dimensions."""


@dataclass(frozen=True)
class Coupling:
    """The links of a synthetic dataset (``synth.json``'s ``links`` at its coupling): each voice and face parameter's trait
    and strength rho (the correlation of its standard-normal latent with the trait)."""

    traits: tuple[str, ...]
    voice: tuple[tuple[str, str, float], ...]
    """(trait, parameter, rho) of every voice link."""
    face: tuple[tuple[str, str, float], ...]
    """(trait, parameter, rho) of every face link."""

    @classmethod
    def from_record(cls, synth: dict) -> "Coupling":
        links = synth.get("links", [])
        side = {s: tuple((link["trait"], link["parameter"], float(link["strength"])) for link in links if link["side"] == s) for s in ("voice", "face")}
        return cls(tuple(sorted({link["trait"] for link in links})), side["voice"], side["face"])

    def loadings(self, links) -> tuple[np.ndarray, np.ndarray]:
        """(L, T) loadings of the links' latents on the traits, and (L,) their independent variances 1 - rho^2."""
        loads = np.zeros((len(links), len(self.traits)))
        for i, (trait, _, rho) in enumerate(links):
            loads[i, self.traits.index(trait)] = rho
        return loads, 1 - loads.sum(axis=1) ** 2

    def face_given_voice(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The face latents given the voice latents, w | v ~ N(A v, S), and their marginal w ~ N(0, S0): (A, S^-1, S0^-1).

        With traits z ~ N(0, I), v = Lv z + ev and w = Lf z + ef (independent noises of variances 1 - rho^2):
        z | v has precision P = I + Lv' Dv^-1 Lv and mean P^-1 Lv' Dv^-1 v, so A = Lf P^-1 Lv' Dv^-1,
        S = Lf P^-1 Lf' + Df and S0 = Lf Lf' + Df."""
        lv, dv = self.loadings(self.voice)
        lf, df = self.loadings(self.face)
        precision = np.eye(len(self.traits)) + lv.T @ (lv / dv[:, None]) if len(self.voice) else np.eye(len(self.traits))
        posterior = np.linalg.inv(precision)
        a = lf @ posterior @ (lv / dv[:, None]).T if len(self.voice) else np.zeros((len(self.face), 0))
        s = lf @ posterior @ lf.T + np.diag(df)
        s0 = lf @ lf.T + np.diag(df)
        return a, np.linalg.inv(s), np.linalg.inv(s0)


def oracle_scores(query_sex, query_voice: np.ndarray, sexes, face_latents: np.ndarray, coupling: Coupling) -> np.ndarray:
    """The oracle's score of every candidate (the module's rule) for queries of sex ``query_sex`` (Q,) and voice latents
    ``query_voice`` (Q, V); candidates of sex ``sexes`` (Q, G) with face latents ``face_latents`` (Q, G, J). Returns (Q, G):
    log N(w; A v, S) - log N(w; 0, S0) up to a constant, -inf for a candidate of the other sex."""
    a, s_inv, s0_inv = coupling.face_given_voice()
    w = np.asarray(face_latents, dtype=float)
    mean = np.asarray(query_voice, dtype=float) @ a.T  # (Q, J)
    d = w - mean[:, None, :]
    score = -0.5 * np.einsum("qgi,ij,qgj->qg", d, s_inv, d) + 0.5 * np.einsum("qgi,ij,qgj->qg", w, s0_inv, w)
    return np.where(np.asarray(sexes) == np.asarray(query_sex)[:, None], score, -np.inf)


def _per_query(scores: np.ndarray, ks) -> dict[str, np.ndarray]:
    """Each query's (row's) score when column 0 is its true candidate: 1:2 matching against every other column (the win
    rate, ties 1/2) and Recall@K for K < G with random tie-breaking (with g others scoring higher and e equal, the true
    one's rank is uniform on g..g+e, so P(rank < K) = clip((K - g) / (e + 1), 0, 1))."""
    true, others = scores[:, :1], scores[:, 1:]
    above, equal = (others > true).sum(axis=1), (others == true).sum(axis=1)
    out = {"matching_1to2": ((true > others) + 0.5 * (true == others)).mean(axis=1)}
    out.update({f"recall@{k}": np.clip((k - above) / (equal + 1), 0, 1) for k in ks if k < scores.shape[1]})
    return out


def ceiling(coupling: Coupling, gallery: int, draws: int = MONTE_CARLO_DRAWS, seed: int = 0, male_share: float = 0.5) -> dict:
    """The expected oracle score with ``gallery`` candidates (the true identity and G - 1 others, all drawn as the stand-in
    draws identities: male with ``male_share``, traits standard normal, latents through the links), over ``draws``
    galleries: {"matching_1to2", "recall@K" for K < G, each with "<name>:se" (its Monte Carlo standard error), "gallery",
    "draws"}."""
    if gallery < 2:
        raise ValueError("the ceiling needs a gallery of at least 2 identities")
    rng = np.random.default_rng(seed)
    lv, dv = coupling.loadings(coupling.voice)
    lf, df = coupling.loadings(coupling.face)
    sexes = rng.random((draws, gallery)) < male_share
    z = rng.standard_normal((draws, gallery, len(coupling.traits)))
    voice = z[:, 0] @ lv.T + np.sqrt(dv) * rng.standard_normal((draws, len(coupling.voice)))
    face = z @ lf.T + np.sqrt(df) * rng.standard_normal((draws, gallery, len(coupling.face)))
    per_draw = _per_query(oracle_scores(sexes[:, 0], voice, sexes, face, coupling), GALLERY_KS)
    out: dict = {"gallery": gallery, "draws": draws}
    for name, values in per_draw.items():
        out[name] = float(values.mean())
        out[f"{name}:se"] = float(values.std(ddof=1) / math.sqrt(draws))
    return out


def split_ceiling(identities: list[dict], coupling: Coupling) -> dict:
    """The oracle on given identities (each {"gender", "voice_latents": {parameter: v}, "face_latents": {parameter: w}}):
    1:2 matching against every other identity and Recall@K over all of them (G = their number), averaged over identities
    as queries."""
    n = len(identities)
    if n < 2:
        raise ValueError("the ceiling needs at least 2 identities")
    sex = np.array([person["gender"] for person in identities])
    v = np.array([[float(person["voice_latents"][p]) for _, p, _ in coupling.voice] for person in identities]).reshape(n, len(coupling.voice))
    w = np.array([[float(person["face_latents"][p]) for _, p, _ in coupling.face] for person in identities]).reshape(n, len(coupling.face))
    order = np.array([[q] + [c for c in range(n) if c != q] for q in range(n)])  # each query's own face first
    scores = oracle_scores(sex, v, sex[order], w[order], coupling)
    return {**{name: float(values.mean()) for name, values in _per_query(scores, GALLERY_KS).items()}, "gallery": n, "identities": n}


def _per_query_keys(scores: dict) -> list[str]:
    """The score keys of a ``ceiling`` result (not its standard errors, gallery or draws)."""
    return [name for name in scores if name == "matching_1to2" or name.startswith("recall@") and ":" not in name]


def chance(metric: str, gallery: int) -> float:
    """Chance level of a ceiling key: 1/2 for 1:2 matching, K / G for "recall@K" (``metrics.Metric.chance`` of the drawn
    galleries' Recall@K)."""
    if metric == "matching_1to2":
        return 0.5
    return METRICS[f"gallery_{metric}"].chance(gallery)


def normalised(score: float, chance_level: float, ceiling_level: float) -> float:
    """(score - chance) / (ceiling - chance): 0 at chance, 1 at the ceiling; NaN when the ceiling is chance itself."""
    span = ceiling_level - chance_level
    return (score - chance_level) / span if span > 1e-12 else math.nan


def trait_probe(embeddings: np.ndarray, identity: np.ndarray, traits: dict[int, dict]) -> dict:
    """The linear probe from voice embeddings to traits, leave one identity out.

    ``embeddings`` (N, D) of clips (or windows) of identities ``identity`` (N,) that the voice encoder never trained on;
    ``traits``: identity -> {"gender", "age", "size"}. Each identity is one point, the mean of its embeddings, standardised
    with the other identities' statistics. Age and size: ridge regression on the embedding plus sex as a covariate, its
    penalty chosen among ``PROBE_ALPHAS`` by leave-one-out error on the other identities, scored by the R^2 of the held-out
    predictions against the traits' variance around their sex means (so 0 = nothing beyond sex). Sex: the sign of the same
    ridge regression to +1 (male) / -1 (female) without the covariate, scored by accuracy. Returns {"identities": n, "age_r2", "size_r2",
    "sex_accuracy", "sex_chance"}.
    """
    people = sorted(set(np.asarray(identity).tolist()) & set(traits))
    if len(people) < 6:
        return {"identities": len(people), "age_r2": math.nan, "size_r2": math.nan, "sex_accuracy": math.nan, "sex_chance": math.nan}
    x = np.stack([np.asarray(embeddings)[np.asarray(identity) == p].mean(axis=0) for p in people]).astype(float)
    male = np.array([traits[p]["gender"] == "m" for p in people], dtype=float)
    out = {"identities": len(people)}
    for trait in ("age", "size"):
        y = np.array([float(traits[p][trait]) for p in people])
        predicted = np.array([_ridge_held_out(x, male, y, i) for i in range(len(people))])
        residual = y - np.where(male == 1, y[male == 1].mean() if male.any() else 0, y[male == 0].mean() if (male == 0).any() else 0)
        out[f"{trait}_r2"] = float(1 - ((y - predicted) ** 2).sum() / max((residual**2).sum(), 1e-12))
    sign = np.where(male == 1, 1.0, -1.0)
    hits = [np.sign(_ridge_held_out(x, np.zeros_like(male), sign, i)) == sign[i] for i in range(len(people))]
    out["sex_accuracy"] = float(np.mean(hits))
    out["sex_chance"] = float(max(male.mean(), 1 - male.mean()))
    return out


def _ridge_held_out(x: np.ndarray, male: np.ndarray, y: np.ndarray, held: int) -> float:
    """Ridge prediction of y[held] from the other rows: features standardised on them, ``male`` (0/1) an unpenalised
    covariate (y and x are centred per group; all zeros: no covariate), the penalty chosen by their leave-one-out error
    (closed form: e_i / (1 - h_ii))."""
    rest = np.arange(len(y)) != held
    xr, mr, yr = x[rest], male[rest], y[rest]
    mu, sd = xr.mean(axis=0), xr.std(axis=0) + 1e-9
    xs = (xr - mu) / sd
    sex_mean = {s: yr[mr == s].mean() if (mr == s).any() else yr.mean() for s in (0.0, 1.0)}
    yc = yr - np.array([sex_mean[s] for s in mr])
    x_mean = {s: xs[mr == s].mean(axis=0) if (mr == s).any() else np.zeros(xs.shape[1]) for s in (0.0, 1.0)}
    xc = xs - np.array([x_mean[s] for s in mr])  # within-sex centring: sex is a covariate
    best, best_error = PROBE_ALPHAS[0], math.inf
    for alpha in PROBE_ALPHAS:
        hat = xc @ np.linalg.solve(xc.T @ xc + alpha * np.eye(xc.shape[1]), xc.T)
        error = float((((yc - hat @ yc) / np.clip(1 - np.diag(hat), 1e-9, None)) ** 2).mean())
        if error < best_error:
            best, best_error = alpha, error
    coef = np.linalg.solve(xc.T @ xc + best * np.eye(xc.shape[1]), xc.T @ yc)
    s = male[held]
    xh = (x[held] - mu) / sd - x_mean[s]
    return float(sex_mean[s] + xh @ coef)


def study_answer(manifest: dict, clip_emb: np.ndarray, clip_label: np.ndarray, gallery_size: int) -> dict | None:
    """The known answer of a study on a prepared stand-in (``manifest["known_generator"]``; None for real data).

    Under an identity-disjoint protocol (identities whose split is ``test``): the expected ceiling at the study's gallery
    (G = ``gallery_size`` capped at the number of test identities, as the drawn galleries are), the oracle on the test
    identities themselves, the chance levels, and the trait probe on the voice embeddings of the validation and test
    identities (``clip_emb`` / ``clip_label``: the generator trials' evaluation embeddings). Under a protocol that splits
    clips of the same people, only why no ceiling below 100 % applies.
    """
    record = manifest.get("known_generator")
    if not record:
        return None
    coupling = Coupling.from_record(record)
    people = {person["voice_id"]: person for person in record["identities"]}
    by_label = {row["label"]: people.get(row["voice_id"]) for row in manifest["identities"]}
    split_of = {row["label"]: row["split"] for row in manifest["identities"]}
    test = [label for label in sorted(by_label) if split_of[label] == "test" and by_label[label] is not None]
    answer = {"coupling": record["coupling"], "links": record["links"]}
    if len(test) < 2:
        return {**answer, "ceiling": None,
                "why": "the study's test voices belong to identities seen in training: a voice identifies its person, so no bound below "
                       "100 % applies to 1:2 matching, Recall@K or Table I"}
    gallery = min(int(gallery_size), len(test))
    unseen = [label for label in sorted(by_label) if split_of[label] in ("val", "test") and by_label[label] is not None]
    keep = np.isin(np.asarray(clip_label), unseen)
    probe = trait_probe(np.asarray(clip_emb)[keep], np.asarray(clip_label)[keep], {label: by_label[label] for label in unseen})
    expected = ceiling(coupling, gallery)
    return {**answer, "ceiling": expected, "split_ceiling": split_ceiling([by_label[label] for label in test], coupling),
            "chance": {name: chance(name, gallery) for name in _per_query_keys(expected)},
            "test_identities": len(test), "probe": probe}
