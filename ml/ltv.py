"""Lifetime value: each user's expected revenue in ``[D, D + ANALYTICS_LTV_HORIZON_DAYS)``.

Two models on the same out-of-time window, and the naive "past revenue rate x horizon" as the baseline:

* **BG/NBD + Gamma-Gamma** (buy till you die), fitted by pymc-marketing (MAP) on a transaction summary derived
  from the features. A user's purchasing starts when the product first sees them, not at their first order,
  so that non-buyers are customers too (``frequency`` 0, ``T`` = days since first seen: the longer they stay
  without an order, the lower their expected purchases). Transactions are order days, their value the mean
  revenue per order day (``revenue_lifetime / order_days_lifetime``); non-buyers get the population's mean
  spend. It needs no closed label window, so it works on a few weeks of history. The purchase rate has two
  covariates (pymc-marketing's ``purchase_covariate_cols``): the user's sessions per day and funnel step, so a
  frequent visitor who completed their profile is expected to buy more than a one-visit browser of the same
  age. Without them, users without an order differ only by age, and the predicted total was 22% under the
  actual on the test data (6% with them). Gamma-Gamma's MAP fit gives a buyer's own mean order value little
  weight (5% after one order day): right for the generator, which draws each order's value independently of
  the user. The modified BG/NBD and Pareto/NBD, which let a non-buyer drop out, fit no dropout here (a -> 0) and change
  no figure.
* **LightGBM** (Tweedie objective: revenue is zero for most users, continuous for the others) on the features
  plus the BG/NBD outputs, trained on the earlier snapshots whose label windows closed.

The evaluation date is the latest snapshot whose ``ltv_horizon_days`` window closed (the others train
LightGBM). With a history too short for any closed window, the history is split in two: the first half
before the evaluation date, the second half is observed and the figures are over those ``observed_days``
(the models predict for exactly that many days: BG/NBD's expectation is exact for any window), with
BG/NBD alone. The candidate is the better model on RMSE among those whose total is within 20% of the actual
total (the prediction is an expected value; MAE would reward predicting zero); it is registered only when it
beats the naive baseline on RMSE.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

import duckdb
import lightgbm
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.special import expit, hyp2f1
from scipy.stats import spearmanr

from analytics_settings import Settings
from ml.features import FEATURE_NAMES, FEATURE_SET_VERSION, build_features, model_input, read_warehouse
from ml.population import first_provisional_day, ltv_targets, snapshot_dates
from ml.registry import ScoringModel, TrainedModel

if TYPE_CHECKING:
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

SEED = 14
TOTAL_TOLERANCE = 0.2  # the candidate's total must be within 20% of the actual total revenue
MIN_HISTORY_DAYS = 14  # the short-history split needs a week to fit on and a week to observe
MIN_BUYERS = 5  # Gamma-Gamma's spend distribution needs a few buyers
LIGHTGBM_PARAMS = {
    "objective": "tweedie", "tweedie_variance_power": 1.5, "learning_rate": 0.05, "num_leaves": 15,
    "min_data_in_leaf": 20, "feature_fraction": 0.9, "bagging_fraction": 0.9, "bagging_freq": 1,
    "deterministic": True, "force_row_wise": True, "num_threads": 1, "seed": SEED, "verbosity": -1,
}
LIGHTGBM_ROUNDS = 1000  # at most; early stopping on the latest training snapshot picks the number
LIGHTGBM_FIXED_ROUNDS = 200  # with a single training snapshot there is nothing to stop on
LIGHTGBM_EARLY_STOPPING = 50
BTYD_COLUMNS = ["btyd_expected_orders", "btyd_probability_alive", "btyd_expected_order_value",
                "btyd_expected_revenue"]

log = logging.getLogger(__name__)


class LtvDataError(ValueError):
    """The warehouse does not hold enough history or orders to fit a lifetime value model."""


def transaction_summary(features: pd.DataFrame) -> pd.DataFrame:
    """BG/NBD's ``frequency, recency, T, monetary_value`` in days, and its purchase covariates, from the
    feature columns.

    Birth is the first day the product saw the user (``days_since_first_seen``), so a non-buyer has
    ``frequency`` 0, ``recency`` 0 and ``monetary_value`` 0; a buyer's transactions are their order days.
    The covariates are ``session_pace`` (log of sessions per day since first seen, one added to both: the
    generator's orders are a share of a user's sessions) and ``funnel_step`` (0-4: only a user who went
    through the signup funnel can order).
    """
    age = features["days_since_first_seen"].fillna(0.0).clip(lower=0.0).to_numpy(float)
    order_days = features["order_days_lifetime"].fillna(0.0).to_numpy(float)
    buyer = order_days > 0
    last_order_ago = features["last_order_days_ago"].to_numpy(float)
    recency = np.where(buyer, np.clip(age - np.nan_to_num(last_order_ago, nan=age), 0.0, age), 0.0)
    revenue = features["revenue_lifetime"].fillna(0.0).to_numpy(float)
    monetary = np.where(buyer, revenue / np.where(buyer, order_days, 1.0), 0.0)
    sessions = features["sessions_lifetime"].fillna(0.0).to_numpy(float)
    return pd.DataFrame({"frequency": order_days, "recency": recency, "T": age, "monetary_value": monetary,
                         "session_pace": np.log((sessions + 1) / (age + 1)),
                         "funnel_step": features["funnel_step_reached"].fillna(0.0).to_numpy(float)})


PURCHASE_COVARIATES = ["session_pace", "funnel_step"]


@dataclass(frozen=True)
class BuyTillYouDie:
    """The fitted population parameters of BG/NBD with purchase covariates (r, alpha, a, b and the
    coefficients of :data:`PURCHASE_COVARIATES`) and Gamma-Gamma (p, q, v).

    A user's purchase-rate scale is ``alpha * exp(-covariates . coefficients)`` (Fader & Hardie 2007, "Incorporating
    time-invariant covariates"): the users who visit often and went further through the funnel buy more.
    The predictions are the closed forms pymc-marketing's ``BetaGeoModel.expected_purchases`` /
    ``expected_probability_alive`` and ``GammaGammaModel.expected_customer_spend`` compute (Fader, Hardie &
    Lee 2005, eq. 10; Fader & Hardie 2013, eq. 5), on plain floats: the library's fitted models hold a PyMC
    graph that cannot be pickled, and serving should not import PyMC (seconds) to evaluate a formula.
    ``tests/ml/test_ltv.py`` checks both give the same numbers.
    """

    r: float
    alpha: float
    a: float
    b: float
    p: float
    q: float
    v: float
    # 0 (no covariates) for a champion pickled before they existed: it keeps scoring as it was trained.
    session_pace_coefficient: float = 0.0
    funnel_step_coefficient: float = 0.0

    @classmethod
    def from_fits(cls, orders: BetaGeoModel, spend: GammaGammaModel) -> BuyTillYouDie:
        def value(model: BetaGeoModel | GammaGammaModel, name: str) -> float:
            return float(model.fit_result[name].mean())
        coefficients = orders.fit_result["purchase_coefficient_alpha"].mean(("chain", "draw"))
        return cls(*(value(orders, name) for name in ("r", "alpha_scale", "a", "b")),
                   *(value(spend, name) for name in ("p", "q", "v")),
                   *(float(coefficients.sel(purchase_covariate=name)) for name in PURCHASE_COVARIATES))

    def users_alpha(self, summary: pd.DataFrame) -> np.ndarray:
        covariates = summary[PURCHASE_COVARIATES].to_numpy(float)
        coefficients = np.array([self.session_pace_coefficient, self.funnel_step_coefficient])
        return self.alpha * np.exp(-covariates @ coefficients)

    def expected_orders(self, summary: pd.DataFrame, days: float) -> np.ndarray:
        r, alpha, a, b = self.r, self.users_alpha(summary), self.a, self.b
        x, t_x, age = (summary[column].to_numpy(float) for column in ("frequency", "recency", "T"))
        numerator = 1 - ((alpha + age) / (alpha + age + days)) ** (r + x) * hyp2f1(
            r + x, b + x, a + b + x - 1, days / (alpha + age + days))
        numerator *= (a + b + x - 1) / (a - 1)
        denominator = 1 + (x > 0) * (a / (b + x - 1)) * ((alpha + age) / (alpha + t_x)) ** (r + x)
        return numerator / denominator

    def probability_alive(self, summary: pd.DataFrame) -> np.ndarray:
        x, t_x, age = (summary[column].to_numpy(float) for column in ("frequency", "recency", "T"))
        alpha = self.users_alpha(summary)
        log_odds = ((self.r + x) * np.log((alpha + age) / (alpha + t_x))
                    + np.log(self.a / (self.b + np.maximum(x, 1) - 1)))
        return np.where(x == 0, 1.0, expit(-log_odds))

    def expected_order_value(self, summary: pd.DataFrame) -> np.ndarray:
        x = summary["frequency"].to_numpy(float)
        weight = self.p * x / (self.p * x + self.q - 1)
        population_mean = self.v * self.p / (self.q - 1)
        return (1 - weight) * population_mean + weight * summary["monetary_value"].to_numpy(float)

    def expected_revenue(self, summary: pd.DataFrame, days: float) -> np.ndarray:
        return self.expected_orders(summary, days) * self.expected_order_value(summary)

    def outputs(self, features: pd.DataFrame, days: float) -> pd.DataFrame:
        """The BG/NBD outputs LightGBM reads as features."""
        summary = transaction_summary(features)
        orders = self.expected_orders(summary, days)
        order_value = self.expected_order_value(summary)
        return pd.DataFrame({"btyd_expected_orders": orders, "btyd_probability_alive": self.probability_alive(summary),
                             "btyd_expected_order_value": order_value, "btyd_expected_revenue": orders * order_value},
                            index=features.index)


def fit_buy_till_you_die(summary: pd.DataFrame) -> BuyTillYouDie:
    """MAP fits of BG/NBD (with its purchase covariates) on every user and Gamma-Gamma on the buyers
    (deterministic: no sampling)."""
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel  # imports PyMC: only when fitting

    summary = summary.assign(customer_id=np.arange(len(summary)))
    buyers = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    if len(buyers) < MIN_BUYERS:
        raise LtvDataError(
            f"only {len(buyers)} users ordered before the evaluation date; the lifetime value model needs at "
            f"least {MIN_BUYERS} buyers: load more history (orders are `Order Completed` events)")
    orders = BetaGeoModel(model_config={"purchase_covariate_cols": PURCHASE_COVARIATES})
    orders.fit(data=summary[["customer_id", "frequency", "recency", "T", *PURCHASE_COVARIATES]], method="map",
               progressbar=False)
    spend = GammaGammaModel()
    spend.fit(data=buyers[["customer_id", "frequency", "monetary_value"]], method="map", progressbar=False)
    return BuyTillYouDie.from_fits(orders, spend)


@dataclass
class BuyTillYouDieLtv:
    """BG/NBD + Gamma-Gamma as a ScoringModel: expected revenue over ``horizon_days``."""

    btyd: BuyTillYouDie
    horizon_days: int
    kind: str = "ltv"
    feature_set_version: str = FEATURE_SET_VERSION
    feature_names: list[str] = field(default_factory=lambda: list(FEATURE_NAMES))

    def predict(self, features: pd.DataFrame, horizon_days: int | None = None) -> np.ndarray:
        """Expected revenue over ``horizon_days`` (default: the model's horizon)."""
        return self.btyd.expected_revenue(transaction_summary(features), horizon_days or self.horizon_days)


@dataclass
class LightGbmLtv(BuyTillYouDieLtv):
    """LightGBM (Tweedie) on the features and the BG/NBD outputs, trained on ``horizon_days`` targets."""

    booster: lightgbm.Booster = field(kw_only=True)

    def predict(self, features: pd.DataFrame, horizon_days: int | None = None) -> np.ndarray:
        """Expected revenue over ``horizon_days``: a shorter window than the training horizon is scaled
        linearly (only re-scoring on a short history asks for it)."""
        predicted = self.booster.predict(lightgbm_input(features, self.btyd, self.horizon_days))
        return np.asarray(predicted, float) * (horizon_days or self.horizon_days) / self.horizon_days


def lightgbm_input(features: pd.DataFrame, btyd: BuyTillYouDie, horizon_days: int) -> pd.DataFrame:
    inputs = model_input(features[FEATURE_NAMES])
    return pd.concat([inputs, btyd.outputs(inputs, horizon_days)], axis=1)


def fit_lightgbm(training: pd.DataFrame, btyd: BuyTillYouDie, horizon_days: int) -> LightGbmLtv:
    """Train on every training snapshot but the latest, stop early on the latest (when there are two)."""
    dates = sorted(training["as_of_date"].unique())
    validation = training["as_of_date"] == dates[-1] if len(dates) > 1 else None
    fit_rows = training if validation is None else training[~validation]

    def dataset(rows: pd.DataFrame, reference: lightgbm.Dataset | None = None) -> lightgbm.Dataset:
        return lightgbm.Dataset(lightgbm_input(rows, btyd, horizon_days), label=rows["future_revenue"],
                                reference=reference, free_raw_data=False)

    train_set = dataset(fit_rows)
    if validation is None:
        booster = lightgbm.train(LIGHTGBM_PARAMS, train_set, num_boost_round=LIGHTGBM_FIXED_ROUNDS)
    else:
        booster = lightgbm.train(
            LIGHTGBM_PARAMS, train_set, num_boost_round=LIGHTGBM_ROUNDS,
            valid_sets=[dataset(training[validation], train_set)],
            callbacks=[lightgbm.early_stopping(LIGHTGBM_EARLY_STOPPING, verbose=False)])
        booster = lightgbm.Booster(model_str=booster.model_to_string(num_iteration=booster.best_iteration))
    return LightGbmLtv(btyd, horizon_days, booster=booster)


def naive_prediction(features: pd.DataFrame, days: int) -> np.ndarray:
    """The baseline: revenue per day since first seen, times the window."""
    age = features["days_since_first_seen"].to_numpy(float)
    revenue = features["revenue_lifetime"].fillna(0.0).to_numpy(float)
    return np.where(age > 0, revenue / np.where(age > 0, age, 1.0), 0.0) * days


def rank_correlation(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Spearman's rho; 0 when either side is constant (no ranking to compare)."""
    return float(spearmanr(actual, predicted).statistic) if np.ptp(actual) and np.ptp(predicted) else 0.0


def ltv_figures(actual: np.ndarray, predicted: np.ndarray, buyers: np.ndarray) -> dict[str, float]:
    """RMSE, MAE, Spearman (over everyone, and over the users who ordered before D), totals and the share of
    revenue the top 10% of predicted users bring.

    Most users never order, so the overall Spearman mostly measures how a model orders the many users whose
    actual revenue is a tie at zero: a model that gives every non-buyer the same value (the naive baseline's
    0) is hard to beat on it; ``buyers_spearman`` is the ranking of the existing customers. On the tests'
    nine weeks (1,439 users without an order, 60 of whom order in the window), a perfect order of the 59 past
    buyers above tied non-buyers reaches 0.617 against the naive 0.616: only ordering the non-buyers moves it,
    and any order of them from these features costs more than it gains (by funnel step: 0.37)."""
    actual, predicted = np.asarray(actual, float), np.asarray(predicted, float)
    error = predicted - actual
    top = np.argsort(-predicted, kind="stable")[: math.ceil(len(actual) / 10)]
    total_actual, total_predicted = float(actual.sum()), float(predicted.sum())
    # With no revenue at all in the window, any predicted revenue is infinitely off.
    total_error = total_predicted / total_actual - 1 if total_actual else (math.inf if total_predicted else 0.0)
    return {
        "rmse": float(np.sqrt(np.mean(error ** 2))),
        "mae": float(np.mean(np.abs(error))),
        "spearman": rank_correlation(actual, predicted),
        "buyers_spearman": rank_correlation(actual[buyers], predicted[buyers]),
        "total_predicted": total_predicted,
        "total_actual": total_actual,
        "total_error": total_error,
        "top_decile_revenue_share": float(actual[top].sum() / total_actual) if total_actual else 0.0,
        "users": float(len(actual)),
    }


def past_buyers(features: pd.DataFrame) -> np.ndarray:
    return features["order_days_lifetime"].fillna(0.0).to_numpy(float) > 0


def choose_candidate(figures: dict[str, dict[str, float]]) -> str:
    """The model with the lowest RMSE among those whose total is within 20% of the actual (all, if none is)."""
    plausible = [name for name, values in figures.items() if abs(values["total_error"]) <= TOTAL_TOLERANCE]
    return min(plausible or list(figures), key=lambda name: (figures[name]["rmse"], name))


def decile_table(actual: np.ndarray, predicted: np.ndarray) -> pd.DataFrame:
    """Users in ten equal groups by predicted value (1 = highest): mean predicted and actual revenue."""
    order = np.argsort(-np.asarray(predicted, float), kind="stable")
    decile = np.empty(len(order), int)
    decile[order] = np.arange(len(order)) * 10 // max(len(order), 1) + 1
    frame = pd.DataFrame({"decile": decile, "predicted": predicted, "actual": actual})
    table = frame.groupby("decile").agg(users=("actual", "size"), mean_predicted=("predicted", "mean"),
                                        mean_actual=("actual", "mean"), total_actual=("actual", "sum"))
    return table.reset_index()


def decile_plot(table: pd.DataFrame, observed_days: int) -> Figure:
    figure = Figure(figsize=(7, 4))
    axes = figure.subplots()
    positions = table["decile"].to_numpy()
    axes.bar(positions - 0.2, table["mean_predicted"], width=0.4, label="predicted")
    axes.bar(positions + 0.2, table["mean_actual"], width=0.4, label="actual")
    axes.set_xticks(positions)
    axes.set_xlabel("decile of predicted value (1 = highest)")
    axes.set_ylabel(f"mean revenue over {observed_days} days")
    axes.set_title("Lifetime value by predicted decile")
    axes.legend()
    return figure


@dataclass(frozen=True)
class EvaluationWindow:
    """Where the models are compared: ``[evaluation_date, evaluation_date + observed_days)``, and the
    earlier snapshots LightGBM trains on (none: BG/NBD alone)."""

    evaluation_date: date
    observed_days: int
    training_dates: list[date]


def evaluation_window(connection: duckdb.DuckDBPyConnection, settings: Settings,
                      as_of: date | None = None) -> EvaluationWindow:
    """The latest snapshot whose full horizon closed before ``as_of`` and the earlier ones; without any, the
    second half of the history (at most the horizon) is the observed window."""
    closed = snapshot_dates(connection, settings.ltv_horizon_days, as_of)
    if closed:
        return EvaluationWindow(closed[-1], settings.ltv_horizon_days, closed[:-1])
    first_open = first_provisional_day(connection)
    end = min(as_of, first_open) if as_of else first_open
    (first_day,) = connection.execute("select min(event_date) from marts.fct_events").fetchall()[0]
    history = (end - first_day).days if first_day else 0
    if history < MIN_HISTORY_DAYS:
        raise LtvDataError(
            f"the warehouse holds {history} closed days of events before {end} (first provisional day "
            f"{first_open}); the lifetime value model needs at least {MIN_HISTORY_DAYS}: load more history or "
            f"train with a later --as-of")
    observed = history // 2
    return EvaluationWindow(end - timedelta(days=observed), observed, [])


def labelled_features(connection: duckdb.DuckDBPyConnection, dates: list[date], days: int,
                      settings: Settings) -> pd.DataFrame:
    """Features as of each date with ``future_revenue`` over ``[date, date + days)`` and ``observed_days``."""
    features = build_features(connection, dates)
    window = settings.model_copy(update={"ltv_horizon_days": days})
    targets = pd.concat([ltv_targets(connection, day, window, features.loc[features["as_of_date"] == day, "user_id"])
                         .assign(as_of_date=day) for day in dates])
    return features.merge(targets, on=["user_id", "as_of_date"], how="inner", validate="one_to_one")


def compare(evaluation: pd.DataFrame, training: pd.DataFrame, horizon_days: int,
            btyd: BuyTillYouDie) -> tuple[dict[str, ScoringModel], dict[str, dict[str, float]]]:
    """Every model that can be built, and its figures on the evaluation window."""
    models: dict[str, ScoringModel] = {"bg_nbd_gamma_gamma": BuyTillYouDieLtv(btyd, horizon_days)}
    if len(training):
        models["lightgbm"] = fit_lightgbm(training, btyd, horizon_days)
    return models, {name: KIND.evaluate(model, evaluation) for name, model in models.items()}


class LtvKind:
    name = "ltv"
    primary_figure = "rmse"
    higher_is_better = False

    def train(self, settings: Settings, as_of: date | None = None) -> TrainedModel:
        with read_warehouse(settings.served_warehouse, settings) as connection:
            window = evaluation_window(connection, settings, as_of)
            evaluation = labelled_features(connection, [window.evaluation_date], window.observed_days, settings)
            training = (labelled_features(connection, window.training_dates, settings.ltv_horizon_days, settings)
                        if window.training_dates else evaluation.iloc[:0])
        return self.fit(evaluation, training, window, settings.ltv_horizon_days)

    def fit(self, evaluation: pd.DataFrame, training: pd.DataFrame, window: EvaluationWindow,
            horizon_days: int) -> TrainedModel:
        """Fit both models, compare them with the baseline on the evaluation window and pick the candidate."""
        btyd = fit_buy_till_you_die(transaction_summary(evaluation))
        models, figures = compare(evaluation, training, horizon_days, btyd)
        chosen = choose_candidate(figures)
        actual = evaluation["future_revenue"].to_numpy(float)
        baseline = ltv_figures(actual, naive_prediction(evaluation, window.observed_days), past_buyers(evaluation))
        candidate = figures[chosen]
        gate_failures = [] if candidate["rmse"] < baseline["rmse"] else [
            f"{chosen} RMSE {candidate['rmse']:.4f} does not beat the naive baseline's {baseline['rmse']:.4f}"]
        predicted = models[chosen].predict(evaluation, window.observed_days)
        deciles = decile_table(actual, predicted)
        return TrainedModel(
            model=models[chosen],
            params={"model": chosen, "horizon_days": horizon_days, "observed_days": window.observed_days,
                    "training_dates": ",".join(day.isoformat() for day in window.training_dates), "seed": SEED, **{f"btyd_{name}": value for name, value in asdict(btyd).items()},
                    **({f"lightgbm_{name}": value for name, value in LIGHTGBM_PARAMS.items()}
                       if "lightgbm" in models else {})},
            figures={**candidate, "observed_days": float(window.observed_days),
                     **{f"{name}_{figure}": value for name, values in figures.items()
                        for figure, value in values.items() if figure != "users"}},
            baseline_figures=baseline,
            gate_failures=gate_failures,
            training_data=training if chosen == "lightgbm" else evaluation,
            evaluation_data=evaluation,
            snapshot_dates=[*window.training_dates, window.evaluation_date],
            evaluation_date=window.evaluation_date,
            plots={"ltv_deciles.png": decile_plot(deciles, window.observed_days)},
            tables={"ltv_deciles": deciles},
        )

    def evaluate(self, model: ScoringModel, evaluation_data: pd.DataFrame) -> dict[str, float]:
        """The figures of ``model`` on the window: its prediction for exactly the observed days."""
        observed_days = int(evaluation_data["observed_days"].iloc[0])
        predicted = model.predict(evaluation_data, horizon_days=observed_days)  # type: ignore[call-arg]
        return ltv_figures(evaluation_data["future_revenue"].to_numpy(float), predicted, past_buyers(evaluation_data))


KIND = LtvKind()
