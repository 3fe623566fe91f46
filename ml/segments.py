"""Segments: K-means on standardized recency, frequency, monetary and engagement features.

Counts and amounts are heavy-tailed, so they are log-transformed before standardizing (else one big spender
is a segment of their own). K is the one with the best silhouette in 3..8 (ties: the smaller K). Each segment
is named from its profile against the whole population (buyers or not; new, recently active or fading;
engaged or casual) and described by its feature means (the ``segment_profiles`` table of the run).

Names are stable from one run to the next: the new centroids are matched to the previous champion's
(Hungarian assignment on their distance in the new run's standardized space) and a match closer than
``MATCH_DISTANCE`` keeps its old name; only unmatched segments are named afresh. K-means is seeded, so the same
data gives the same segments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits

from analytics_settings import Settings
from ml.features import FEATURE_SET_VERSION, build_features, read_warehouse
from ml.population import scoring_date
from ml.registry import NoChampionError, ScoringModel, TrainedModel, load_model

SEED = 14
K_RANGE = range(3, 9)
SILHOUETTE_SAMPLE = 5000  # silhouette is quadratic in users: a seeded sample of this many
MATCH_DISTANCE = 1.5  # standardized units: a new centroid this close to an old one is the same segment
PROFILE_THRESHOLD = 0.5  # standard deviations from the population that make a profile trait
SEGMENT_FEATURES = [
    "days_since_last_session", "days_since_first_seen", "sessions_28d", "sessions_lifetime", "active_days_28d",
    "events_28d", "avg_session_duration_seconds_28d", "avg_pages_per_session_28d", "bounce_rate_28d",
    "funnel_step_reached", "orders_lifetime", "revenue_lifetime",
]
LOG_FEATURES = {"sessions_28d", "sessions_lifetime", "active_days_28d", "events_28d",
                "avg_session_duration_seconds_28d", "avg_pages_per_session_28d", "orders_lifetime", "revenue_lifetime"}
ENGAGEMENT = ["sessions_28d", "active_days_28d", "events_28d"]


def segment_space(features: pd.DataFrame) -> np.ndarray:
    """The clustered values before standardizing: a user with no session in 28 days has 0 sessions, 0 bounce
    rate and 0 duration (not undefined), one never seen in a session is as old as their first sight."""
    frame = features[SEGMENT_FEATURES].apply(pd.to_numeric).astype(float)
    frame["days_since_last_session"] = frame["days_since_last_session"].fillna(frame["days_since_first_seen"])
    frame = frame.fillna(0.0).clip(lower=0.0)
    for column in LOG_FEATURES:
        frame[column] = np.log1p(frame[column])
    return frame.to_numpy()


@dataclass(frozen=True)
class Standardizer:
    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray) -> Standardizer:
        scale = values.std(axis=0)
        return cls(values.mean(axis=0), np.where(scale > 0, scale, 1.0))

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.scale


@dataclass
class SegmentsModel:
    """Nearest centroid (in the training run's standardized space) -> the segment's name."""

    standardizer: Standardizer
    centers: np.ndarray  # in segment_space units, one row per segment
    names: list[str]
    kind: str = "segments"
    feature_set_version: str = FEATURE_SET_VERSION
    feature_names: list[str] = field(default_factory=lambda: list(SEGMENT_FEATURES))

    def assign(self, features: pd.DataFrame) -> np.ndarray:
        """The index of each row's segment."""
        points = self.standardizer(segment_space(features))
        centers = self.standardizer(self.centers)
        return ((points[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.names, dtype=object)[self.assign(features)]


def profiles(features: pd.DataFrame, names: list[str], assignment: np.ndarray) -> pd.DataFrame:
    """One row per segment: its users, their share, the share of buyers and the mean of every feature."""
    frame = features[SEGMENT_FEATURES].apply(pd.to_numeric).astype(float).assign(
        segment=np.asarray(names, dtype=object)[assignment],
        buyer=(features["orders_lifetime"].fillna(0).to_numpy(float) > 0).astype(float))
    table = frame.groupby("segment", sort=False).mean().add_prefix("mean_")
    table.insert(0, "users", frame.groupby("segment", sort=False).size())
    table.insert(1, "share", table["users"] / len(frame))
    return table.rename(columns={"mean_buyer": "buyer_share"}).reset_index().sort_values(
        "users", ascending=False, kind="stable").reset_index(drop=True)


def profile_name(center: np.ndarray, buyer_share: float) -> str:
    """A name from a standardized centroid (0 = the population's mean) and its share of buyers."""
    at = {name: center[index] for index, name in enumerate(SEGMENT_FEATURES)}
    fading = at["days_since_last_session"] > PROFILE_THRESHOLD
    new = at["days_since_first_seen"] < -PROFILE_THRESHOLD
    engaged = np.mean([at[name] for name in ENGAGEMENT]) > PROFILE_THRESHOLD
    if buyer_share >= 0.5:
        return "lapsed buyers" if fading else "new buyers" if new else "loyal buyers"
    if fading:
        return "fading"
    if new:
        return "new, engaged" if engaged else "new, browsing"
    return "engaged browsers" if engaged else "casual visitors"


def unique_names(names: list[str], sizes: np.ndarray, taken: set[str]) -> list[str]:
    """``names`` made unique among themselves and against ``taken``: a repeated name gets " 2", " 3"... by
    decreasing segment size."""
    unique = list(names)
    used = set(taken)
    for index in sorted(range(len(names)), key=lambda index: (-sizes[index], index)):
        number = 2
        while unique[index] in used:
            unique[index] = f"{names[index]} {number}"
            number += 1
        used.add(unique[index])
    return unique


def inherited_names(centers: np.ndarray, standardizer: Standardizer, previous: SegmentsModel | None) -> dict[int, str]:
    """New segment index -> the previous champion's name of the segment it matches (within MATCH_DISTANCE)."""
    if previous is None:
        return {}
    distance = np.linalg.norm(standardizer(centers)[:, None, :] - standardizer(previous.centers)[None, :, :], axis=2)
    rows, columns = linear_sum_assignment(distance)
    return {int(row): previous.names[column] for row, column in zip(rows, columns, strict=True)
            if distance[row, column] <= MATCH_DISTANCE}


def silhouette(points: np.ndarray, assignment: np.ndarray) -> float:
    if len(set(assignment.tolist())) < 2:  # one segment: silhouette is undefined, the worst score
        return -1.0
    # One thread: OpenMP and BLAS sum in an order that depends on the thread split, which moved silhouettes
    # in their 13th digit from one run to the next; the same data must give the same figures.
    with threadpool_limits(limits=1):
        return float(silhouette_score(points, assignment, sample_size=min(len(points), SILHOUETTE_SAMPLE),
                                      random_state=SEED))


def fit_segments(features: pd.DataFrame, previous: SegmentsModel | None = None) -> tuple[SegmentsModel, dict[int, float]]:
    """K-means for every K of the range; the best silhouette wins. Also returns each K's silhouette."""
    values = segment_space(features)
    standardizer = Standardizer.of(values)
    points = standardizer(values)
    candidates = [k for k in K_RANGE if k < len(points)]
    if not candidates:
        raise ValueError(f"segments need more than {K_RANGE.start} users, got {len(points)}: load more history")
    with threadpool_limits(limits=1):  # see silhouette()
        fits = {k: KMeans(n_clusters=k, n_init=10, random_state=SEED).fit(points) for k in candidates}
    scores = {k: silhouette(points, fit.labels_) for k, fit in fits.items()}
    best = max(candidates, key=lambda k: (scores[k], -k))
    labels = fits[best].labels_
    centers = np.vstack([values[labels == index].mean(axis=0) for index in range(best)])
    sizes = np.bincount(labels, minlength=best)
    buyer = features["orders_lifetime"].fillna(0).to_numpy(float) > 0
    inherited = inherited_names(centers, standardizer, previous)
    fresh = [index for index in range(best) if index not in inherited]
    fresh_names = unique_names(
        [profile_name(standardizer(centers[index]), buyer[labels == index].mean()) for index in fresh],
        sizes[fresh], taken=set(inherited.values()))
    names = [inherited.get(index, "") for index in range(best)]
    for index, name in zip(fresh, fresh_names, strict=True):
        names[index] = name
    return SegmentsModel(standardizer, centers, names), scores


class SegmentsKind:
    name = "segments"
    primary_figure = "silhouette"
    higher_is_better = True

    def train(self, settings: Settings, as_of: date | None = None) -> TrainedModel:
        with read_warehouse(settings.served_warehouse, settings) as connection:
            day = as_of or scoring_date(connection)
            features = build_features(connection, day)
        try:
            previous = load_model(self.name, settings).model
        except NoChampionError:
            previous = None
        return self.fit(features, day, previous)

    def fit(self, features: pd.DataFrame, day: date, previous: ScoringModel | None) -> TrainedModel:
        model, scores = fit_segments(features, previous)  # type: ignore[arg-type]
        figures = self.evaluate(model, features)
        return TrainedModel(
            model=model,
            params={"k_range": f"{K_RANGE.start}..{K_RANGE.stop - 1}", "k": len(model.names), "seed": SEED,
                    "features": ",".join(SEGMENT_FEATURES), "log_features": ",".join(sorted(LOG_FEATURES)),
                    "matched_previous": previous is not None, "segment_names": ",".join(model.names)},
            figures={**figures, "k": float(len(model.names)),
                     **{f"silhouette_k{k}": score for k, score in scores.items()}},
            baseline_figures={},
            gate_failures=[],
            training_data=features,
            evaluation_data=features,
            snapshot_dates=[day],
            evaluation_date=day,
            tables={"segment_profiles": profiles(features, model.names, model.assign(features))},
        )

    def evaluate(self, model: ScoringModel, evaluation_data: pd.DataFrame) -> dict[str, float]:
        """Silhouette of the model's segments in the evaluation data's own standardized space (the same for
        every model compared on it)."""
        values = segment_space(evaluation_data)
        return {"silhouette": silhouette(Standardizer.of(values)(values), model.predict(evaluation_data))}


KIND = SegmentsKind()
