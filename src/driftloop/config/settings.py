"""Settings from the environment (prefix ``DRIFTLOOP_``, nested with ``__``).

Nothing here is built at import time: entrypoints call ``Settings()`` and pass it down.
Settings are frozen once built (an entry point that needs another value builds the right
``Settings`` or takes a ``model_copy(update=...)``), and an unknown ``DRIFTLOOP_*`` variable
is an error that names it, as an unknown key in the spec is: a typo must not be ignored.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from driftloop.config.errors import InputError

ENV_PREFIX = "DRIFTLOOP_"
NESTED_DELIMITER = "__"
_NESTED = ConfigDict(frozen=True, extra="forbid")

_DEV_ONLY_SECRET = "dev-only-not-a-secret"  # used only when env == "development"


class S3Settings(BaseModel):
    """Connection to an S3-protocol store (MinIO in the cluster)."""

    model_config = _NESTED

    endpoint_url: str | None = None
    """Endpoint of the S3 server, e.g. http://minio.minio:9000 (None: AWS default)."""
    access_key_id: SecretStr | None = None
    """Access key id; falls back to AWS_ACCESS_KEY_ID when unset."""
    secret_access_key: SecretStr | None = None
    """Secret access key; falls back to AWS_SECRET_ACCESS_KEY when unset."""
    region: str = "us-east-1"
    """Region name sent with requests (MinIO ignores it)."""
    wait_s: float = Field(300.0, ge=0)
    """How long prepare and train wait, with back-off, for the store (bucket and access key)
    to take a write before giving up: on a fresh cluster MinIO's bucket Job may still run."""


class ServerSettings(BaseModel):
    """The prediction service."""

    model_config = _NESTED

    host: str = "127.0.0.1"
    """Address uvicorn binds to."""
    port: int = 8000
    """Port uvicorn listens on."""
    workers: int = 1
    """Number of uvicorn worker processes."""
    reload_interval_s: float = 5.0
    """How often the server checks the champion alias for a new version (0 disables)."""
    log_buffer_rows: int = 50_000
    """Bound of the in-memory prediction-log buffer; rows past it are dropped and counted."""
    log_flush_rows: int = 2_000
    """Flush the prediction log when this many rows are buffered."""
    log_flush_interval_s: float = 5.0
    """Flush the prediction log at least this often."""
    max_batch: int = 1_000
    """Largest number of records accepted by /predict/batch."""
    monitor_every_rows: int = 500
    """Run the in-server drift check after this many newly logged rows (0 disables)."""
    monitor_min_interval_s: float = Field(default=30.0, ge=0)
    """At most one in-server drift check per this many seconds, however busy the traffic."""
    monitor_process: bool = True
    """Run the in-server drift checks in a worker process of their own (off: a thread of the
    server, whose checks then hold its interpreter lock and cost serving throughput)."""
    monitor_nice: int = Field(default=19, ge=0, le=19)
    """Nice value of the monitor's worker process: 19 (Linux: in the idle scheduling class too)
    takes only the CPU serving leaves idle; lower keeps checks up with a host that serving
    saturates, at some cost to serving."""
    monitor_report: bool = True
    """Render Evidently's HTML of drifted in-server checks in the background (off: JSON only;
    any report's HTML is still rendered on demand at GET /reports/{id})."""
    admin_endpoints: bool = True
    """Expose /admin/*, /simulate-drift and /feedback (each needs the admin token)."""


class WebhookSettings(BaseModel):
    """Where drift events go and how they are signed."""

    model_config = _NESTED

    url: str | None = None
    """Webhook URL for drift events (Argo Events EventSource in the cluster); None: local runner."""
    secret: SecretStr | None = None
    """Shared HMAC-SHA256 secret for signing events."""
    token: SecretStr | None = None
    """Bearer token the webhook requires (Argo Events EventSource authSecret)."""
    retries: int = 4
    """Attempts to deliver an event before giving up."""
    timeout_s: float = 5.0
    """Timeout of one delivery attempt."""


class RetentionSettings(BaseModel):
    """How long history is kept (days; 0: forever), applied by ``driftloop compact``."""

    model_config = _NESTED

    inference_days: int = Field(0, ge=0)
    """Days of inference-log and feedback segments kept (today counts as one)."""
    report_days: int = Field(0, ge=0)
    """Days of drift reports (summary, kept rows and HTML) kept."""
    html_days: int = Field(0, ge=0)
    """Days a report's Evidently HTML (the largest file) and kept rows are kept; the
    summary stays (until ``report_days``)."""
    compact_after_days: int = Field(1, ge=0)
    """Days after which a day's inference segments are merged into one file (0: today's
    too; segments written later stay beside the merged file until the next run)."""


class Settings(BaseSettings):
    """Everything driftloop reads from the environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=NESTED_DELIMITER, extra="forbid", frozen=True
    )

    env: Literal["development", "production"] = "development"
    """development allows built-in placeholder secrets; production refuses them."""
    state_dir: Path = Field(default=Path(".driftloop"), validate_default=True)
    """Local state folder: embedded store, MLflow database, spool."""
    store_url: str | None = Field(default=None, validate_default=True)
    """Object store root: file:///path or s3://bucket/prefix (default: <state_dir>/store)."""
    s3: S3Settings = Field(default_factory=S3Settings)
    """S3 connection, used when store_url is s3://."""
    mlflow_tracking_uri: str | None = Field(default=None, validate_default=True)
    """MLflow tracking URI (default: SQLite database in the state folder)."""
    experiment_name: str = "driftloop"
    """MLflow experiment that holds the training runs."""
    model_name: str = "driftloop-model"
    """Name of the registered model."""
    spec: Path = Path("configs/telco.yaml")
    """Data set spec (YAML) used by prepare, train and retrain."""
    admin_token: SecretStr | None = None
    """Bearer token for admin endpoints; required outside development."""
    server: ServerSettings = Field(default_factory=ServerSettings)
    """Prediction service settings."""
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    """Drift event delivery."""
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    """How long history is kept, and when segments are compacted."""
    json_logs: bool = False
    """Log one JSON object per line (set in the cluster)."""
    log_level: str = "INFO"
    """Level of the driftloop logger in server workers (``driftloop serve --log-level``)."""

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_variables(cls, data: Any) -> Any:
        reject_unknown_variables(os.environ)
        return data

    @field_validator("state_dir")
    @classmethod
    def _absolute_state_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("store_url")
    @classmethod
    def _default_store_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        state_dir = info.data.get("state_dir")  # absent when state_dir itself was invalid
        return (state_dir / "store").as_uri() if value is None and state_dir else value

    @field_validator("mlflow_tracking_uri")
    @classmethod
    def _default_tracking_uri(cls, value: str | None, info: ValidationInfo) -> str | None:
        state_dir = info.data.get("state_dir")
        return f"sqlite:///{state_dir / 'mlflow.db'}" if value is None and state_dir else value

    @property
    def store(self) -> str:
        """The resolved object-store URL."""
        assert self.store_url is not None
        return self.store_url.rstrip("/")

    @property
    def tracking_uri(self) -> str:
        """The resolved MLflow tracking URI."""
        assert self.mlflow_tracking_uri is not None
        return self.mlflow_tracking_uri

    @property
    def spool_dir(self) -> Path:
        """Local folder where unsent inference-log segments wait for the store."""
        return self.state_dir / "spool"

    def _usable(self, value: SecretStr | None) -> str | None:
        """A secret's value; outside development the placeholder counts as no secret."""
        if value is not None and value.get_secret_value():
            given = value.get_secret_value()
            if self.env == "development" or given != _DEV_ONLY_SECRET:
                return given
            return None
        return _DEV_ONLY_SECRET if self.env == "development" else None

    def effective_admin_token(self) -> str | None:
        """The admin token, or a development placeholder in development mode."""
        return self._usable(self.admin_token)

    def effective_webhook_secret(self) -> str | None:
        """The HMAC secret for events, or a development placeholder in development mode."""
        return self._usable(self.webhook.secret)

    def export_client_env(self) -> None:
        """Set the variables MLflow and boto read for S3 artifacts (called by entrypoints)."""
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        os.environ.setdefault("DO_NOT_TRACK", "true")
        os.environ.setdefault("MLFLOW_LOG_UV_FILES", "false")
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        if self.s3.endpoint_url:
            os.environ["MLFLOW_S3_ENDPOINT_URL"] = self.s3.endpoint_url
            os.environ.setdefault("AWS_ENDPOINT_URL_S3", self.s3.endpoint_url)
        if self.s3.access_key_id is not None:
            os.environ["AWS_ACCESS_KEY_ID"] = self.s3.access_key_id.get_secret_value()
        if self.s3.secret_access_key is not None:
            os.environ["AWS_SECRET_ACCESS_KEY"] = self.s3.secret_access_key.get_secret_value()
        os.environ.setdefault("AWS_DEFAULT_REGION", self.s3.region)


def known_variables() -> frozenset[str]:
    """Every ``DRIFTLOOP_*`` variable the settings read, nested ones spelled with ``__``."""
    names: set[str] = set()

    def walk(model: type[BaseModel], prefix: str) -> None:
        for field_name, info in model.model_fields.items():
            name = prefix + field_name.upper()
            names.add(name)
            if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
                walk(info.annotation, name + NESTED_DELIMITER)

    walk(Settings, ENV_PREFIX)
    return frozenset(names)


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """The ``DRIFTLOOP_*`` names in ``environ`` that no setting reads (case as given)."""
    known = known_variables()
    return sorted(k for k in environ if k.upper().startswith(ENV_PREFIX) and k.upper() not in known)


def reject_unknown_variables(environ: Mapping[str, str]) -> None:
    """Raise ``InputError`` naming each unknown ``DRIFTLOOP_*`` variable (with the nearest
    known name), so a typo such as ``DRIFTLOOP_SERVER__MONITOR_EVERY_ROW`` is not ignored."""
    unknown = unknown_variables(environ)
    if not unknown:
        return
    known = sorted(known_variables())
    named = []
    for name in unknown:
        close = difflib.get_close_matches(name.upper(), known, n=1)
        named.append(f"{name} (did you mean {close[0]}?)" if close else name)
    raise InputError(
        f"unknown setting{'s' if len(unknown) > 1 else ''} in the environment: " + ", ".join(named)
    )
