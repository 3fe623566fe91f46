"""The one settings module of Analytics Stack.

Every part of the stack reads its configuration from ``ANALYTICS_*`` environment variables through
:func:`load_settings`, called when a run starts (never at import time). ``.env.example`` lists them all.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class WriteKey:
    """A source and the secret key its clients authenticate with."""

    source_id: str
    key: SecretStr


class PiiPolicy(BaseModel):
    """What bronze keeps of a source's personal data.

    ``ip``: ``truncate`` (default: IPv4 /24, IPv6 /48), ``drop``, or ``keep``. ``hash_identifiers``: replace
    userId, previousId and traits.email by a keyed hash (HMAC-SHA256 with ``ANALYTICS_PII_SALT``), which
    keeps them joinable.
    """

    model_config = ConfigDict(extra="forbid")
    ip: Literal["truncate", "drop", "keep"] = "truncate"
    hash_identifiers: bool = False


@dataclass(frozen=True)
class ApiKey:
    """A client of the HTTP API (named in its logs) and the bearer token it presents."""

    name: str
    key: SecretStr


DEFAULT_PII_POLICY = PiiPolicy()
DEFAULT_SALT = "analytics-stack-public-salt"  # public: production sets ANALYTICS_PII_SALT


class Settings(BaseSettings):
    """Run-time settings; each field is the variable ``ANALYTICS_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="ANALYTICS_", extra="ignore", hide_input_in_errors=True)

    data_dir: Path = Field(default=REPO_ROOT / ".data", description="Everything the stack keeps.")
    lake_uri: str | None = Field(default=None, description="Root of the lake; `<data_dir>/lake` if unset.")

    collector_host: str = "127.0.0.1"
    collector_port: int = 8088
    write_keys: Annotated[tuple[WriteKey, ...], NoDecode] = Field(
        default=(), description="Comma-separated `source=key` pairs."
    )

    max_event_bytes: int = 32 * 1024
    max_request_bytes: int = Field(
        default=4 * 1024 * 1024,
        description="Largest body, also after decompression (the gzip-bomb cap). Generous like RudderStack's: "
                    "SDKs misjudge batch sizes, and a refused body loses every valid event in it.")
    request_timeout_seconds: float = 10.0
    rate_limit_events_per_second: float = 500_000.0
    rate_limit_burst_seconds: float = 1.0
    landing_max_file_bytes: int = 128 * 1024 * 1024
    landing_max_file_age_seconds: float = 300.0

    pipeline_start_date: date = Field(default=date(2024, 1, 1), description="First daily partition (UTC).")
    spark_master: str = Field(default="local[*]", description="`local[*]`, or a cluster URL (spark://…, yarn, k8s://…).")
    spark_driver_host: str = Field(default="127.0.0.1", description="Address executors reach the driver at.")
    spark_driver_memory: str = "2g"
    spark_executor_memory: str = "2g"
    spark_shuffle_partitions: int = 8
    dedup_window_days: int = Field(default=7, description="Days of earlier arrivals a messageId is deduplicated against.")
    max_lateness_days: int = Field(default=30, description="Older events (by corrected time) are quarantined.")
    # 5: the generator's offline-queued sessions (like mobile SDKs' queues) arrive up to five days late,
    # so a day still gains events until five arrival days after it.
    provisional_days: int = Field(
        default=5, ge=0, description="Event days this close to the latest loaded arrival day are provisional.")
    offline_queue_flag_seconds: int = Field(default=3600, description="sentAt − originalTimestamp above this: offline-queued.")
    bot_user_agent_patterns: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="Extra bot patterns (regular expressions), separated by `;`."
    )
    pii_policy: dict[str, PiiPolicy] = Field(
        default_factory=dict, description='Per source, JSON: {"crm": {"ip": "drop", "hash_identifiers": true}}.'
    )
    access_log_dir: Path | None = Field(default=None, description="nginx/Apache access logs to import.")
    access_log_site_url: str = Field(default="http://localhost", description="Scheme and host of logged paths.")
    warehouse_path: Path | None = Field(
        default=None, description="The served DuckDB warehouse; `<data_dir>/warehouse/analytics.duckdb` if unset.")
    duckdb_memory_limit: str = Field(
        default="2GB",
        description="DuckDB's memory cap for dbt builds, quality checks and the ML features (it spills past it).")
    duckdb_threads: int = Field(default=2, description="DuckDB threads for dbt builds and quality checks.")
    warehouse_lock_timeout_seconds: float = Field(
        default=1800.0, description="How long a build or lake commit waits for the warehouse lock before failing.")
    session_inactivity_minutes: int = Field(default=30, description="Inactivity that ends a session.")
    reporting_currency: str = Field(
        default="USD", description="ISO 4217 code every revenue metric is converted to, at the rate of the order's day.")
    exchange_rates_path: str | None = Field(
        default=None, description="CSV or Parquet of extra daily rates (rate_date, currency, units_per_eur); its "
                                  "rows override the shipped ECB rates of the same day and currency.")
    landing_max_silence_minutes: int = Field(
        default=60, description="Longer without a newly sealed landing file fails the landing freshness check.")

    churn_activity_days: int = Field(
        default=28, ge=1, description="The churn population at D: users with a non-bot session in this many days before D.")
    churn_horizon_days: int = Field(
        default=14, ge=1, description="A user of the population churned when they have no session in this many days from D.")
    ltv_horizon_days: int = Field(default=90, ge=1, description="Days of future revenue the lifetime value predicts.")
    churn_min_auc: float = Field(
        default=0.75, gt=0.5, le=1.0, description="A churn model below this ROC AUC is recorded but not registered.")
    holidays: Annotated[tuple[date, ...], NoDecode] = Field(
        default=(),
        description="Days (YYYY-MM-DD, `,`-separated) forecasts and anomaly detection treat as holidays.")
    mlflow_tracking_uri: str | None = Field(
        default=None, description="MLflow tracking and registry store; `sqlite:///<data_dir>/mlflow/mlflow.db` "
                                  "(artifacts in `<data_dir>/mlflow/artifacts`) if unset, a tracking server at scale.")
    mlflow_ui_port: int = Field(default=5000, description="Port of the MLflow UI that `make up` serves on 127.0.0.1.")
    drift_psi_threshold: float = Field(
        default=0.2, gt=0, description="Population stability index of the score or a top feature above which "
                                       "retraining is requested.")
    champion_max_age_days: int = Field(
        default=7, ge=1, description="A champion older than this is retrained by the drift sensor.")
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_keys: Annotated[tuple[ApiKey, ...], NoDecode] = Field(
        default=(), description="Comma-separated `name=key` pairs of the HTTP API's read keys (bearer tokens).")

    pii_salt: SecretStr = Field(default=SecretStr(DEFAULT_SALT),
                                description="Key of every salted hash (identifiers, visitor ids of access "
                                            "logs); set a secret of your own in production.")

    @model_validator(mode="after")
    def _provisional_within_lateness(self) -> Settings:
        if self.provisional_days > self.max_lateness_days:
            raise ValueError(
                f"ANALYTICS_PROVISIONAL_DAYS={self.provisional_days} exceeds ANALYTICS_MAX_LATENESS_DAYS="
                f"{self.max_lateness_days}: no event arrives later than that, so lower the provisional days")
        return self

    @field_validator("bot_user_agent_patterns", mode="before")
    @classmethod
    def _parse_patterns(cls, raw: object) -> object:
        return tuple(p.strip() for p in raw.split(";") if p.strip()) if isinstance(raw, str) else raw

    @field_validator("holidays", mode="before")
    @classmethod
    def _parse_holidays(cls, raw: object) -> object:
        if not isinstance(raw, str):
            return raw
        try:
            return tuple(sorted({date.fromisoformat(day.strip()) for day in raw.split(",") if day.strip()}))
        except ValueError as error:
            raise ValueError(f"ANALYTICS_HOLIDAYS={raw!r}: {error}; give days as YYYY-MM-DD separated by commas, "
                             "e.g. 2024-12-25,2025-01-01") from None

    @field_validator("reporting_currency", mode="before")
    @classmethod
    def _parse_currency(cls, raw: object) -> object:
        code = raw.strip().upper() if isinstance(raw, str) else raw
        if isinstance(code, str) and not (len(code) == 3 and code.isascii() and code.isalpha()):
            raise ValueError(f"ANALYTICS_REPORTING_CURRENCY={raw!r} is not an ISO 4217 code; write three letters, "
                             "e.g. ANALYTICS_REPORTING_CURRENCY=EUR")
        return code

    @property
    def uses_default_salt(self) -> bool:
        return self.pii_salt.get_secret_value() == DEFAULT_SALT

    def pii_policy_for(self, source_id: str) -> PiiPolicy:
        return self.pii_policy.get(source_id, self.pii_policy.get("*", DEFAULT_PII_POLICY))

    @field_validator("write_keys", mode="before")
    @classmethod
    def _parse_write_keys(cls, raw: object) -> object:
        return _secret_pairs(raw, "ANALYTICS_WRITE_KEYS", "source", WriteKey, "web=wk_web,backend=wk_backend")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_api_keys(cls, raw: object) -> object:
        return _secret_pairs(raw, "ANALYTICS_API_KEYS", "name", ApiKey, "dashboard=k_dash,etl=k_etl")

    @property
    def lake_root(self) -> str:
        """The lake root as a path or URI (a local folder by default)."""
        return self.lake_uri or str(self.data_dir / "lake")

    @property
    def lake_path(self) -> Path:
        """The lake root as a local folder; the collector writes only to local disk."""
        if "://" in self.lake_root and not self.lake_root.startswith("file://"):
            raise ValueError(
                f"ANALYTICS_LAKE_URI={self.lake_root!r} is not a local folder; the collector lands events "
                "on local disk (sync the landing zone to object storage with your tool of choice)"
            )
        return Path(self.lake_root.removeprefix("file://"))

    @property
    def mlflow_uri(self) -> str:
        """Where MLflow tracks runs and keeps the registry: SQLite under the data folder unless set."""
        return self.mlflow_tracking_uri or f"sqlite:///{self.data_dir / 'mlflow' / 'mlflow.db'}"

    @property
    def mlflow_artifacts(self) -> Path:
        """Where the default local MLflow store keeps run artifacts (models, plots)."""
        return self.data_dir / "mlflow" / "artifacts"

    @property
    def ml_outputs_dir(self) -> Path:
        """Where the ML stage writes what dbt reads into the marts, one folder per output
        (`<output>/<partition>=<value>/<file>.parquet`, e.g.
        `scores/as_of_date=YYYY-MM-DD/scores.parquet`)."""
        return self.data_dir / "ml"

    @property
    def ml_scores_dir(self) -> Path:
        """Where scoring writes `as_of_date=YYYY-MM-DD/scores.parquet` for dbt to read into `marts.fct_user_scores`."""
        return self.ml_outputs_dir / "scores"

    @property
    def ml_features_dir(self) -> Path:
        """Where scoring keeps the features it scored, `as_of_date=YYYY-MM-DD/features.parquet`, for the API."""
        return self.ml_outputs_dir / "features"

    @property
    def served_warehouse(self) -> Path:
        """The DuckDB file readers attach (dashboards, reports, alerts, ML scoring)."""
        return self.warehouse_path or self.data_dir / "warehouse" / "analytics.duckdb"

    @property
    def build_warehouse(self) -> Path:
        """The copy dbt builds into, next to the served file so that publishing is one rename."""
        served = self.served_warehouse
        return served.with_name(f"{served.stem}.build{served.suffix}")

    def source_for_key(self, presented: str) -> str | None:
        """The source id whose write key equals ``presented``, compared in constant time."""
        found = None
        for write_key in self.write_keys:
            if hmac.compare_digest(write_key.key.get_secret_value().encode(), presented.encode()):
                found = write_key.source_id
        return found


def _secret_pairs(raw: object, variable: str, label: str, pair: type, example: str) -> object:
    """``a=key1,b=key2`` as ``pair(name, SecretStr(key))`` tuples, with an error naming the bad item."""
    if not isinstance(raw, str):
        return raw
    pairs = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, key = item.partition("=")
        if not sep or not name.strip() or not key.strip():
            raise ValueError(f"{variable} item {item.split('=')[0]!r}=… is not a `{label}=key` pair; "
                             f"write it as e.g. {variable}={example}")
        pairs.append(pair(name.strip(), SecretStr(key.strip())))
    return tuple(pairs)


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment now (overrides win, for tests and command lines)."""
    return Settings(**overrides)
