"""Settings from the environment (prefix ``DRIFTLOOP_``, nested with ``__``).

Nothing here is built at import time: entrypoints call ``Settings()`` and pass it down.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_DEV_ONLY_SECRET = "dev-only-not-a-secret"  # used only when env == "development"


class S3Settings(BaseModel):
    """Connection to an S3-protocol store (MinIO in the cluster)."""

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
    monitor_report: bool = True
    """Render Evidently's HTML report on each in-server check (off: the JSON report only)."""
    admin_endpoints: bool = True
    """Expose /admin/*, /simulate-drift and /feedback (each needs the admin token)."""


class WebhookSettings(BaseModel):
    """Where drift events go and how they are signed."""

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


class Settings(BaseSettings):
    """Everything driftloop reads from the environment."""

    model_config = SettingsConfigDict(
        env_prefix="DRIFTLOOP_", env_nested_delimiter="__", extra="ignore"
    )

    env: Literal["development", "production"] = "development"
    """development allows built-in placeholder secrets; production refuses them."""
    state_dir: Path = Path(".driftloop")
    """Local state folder: embedded store, MLflow database, spool."""
    store_url: str | None = None
    """Object store root: file:///path or s3://bucket/prefix (default: <state_dir>/store)."""
    s3: S3Settings = Field(default_factory=S3Settings)
    """S3 connection, used when store_url is s3://."""
    mlflow_tracking_uri: str | None = None
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
    json_logs: bool = False
    """Log one JSON object per line (set in the cluster)."""

    @model_validator(mode="after")
    def _resolve_defaults(self) -> Settings:
        self.state_dir = Path(self.state_dir).expanduser().resolve()
        if self.store_url is None:
            self.store_url = (self.state_dir / "store").as_uri()
        if self.mlflow_tracking_uri is None:
            self.mlflow_tracking_uri = f"sqlite:///{self.state_dir / 'mlflow.db'}"
        return self

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
