"""One settings object for the whole service (environment variables prefixed YUNWANG_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Service settings; every default runs embedded (SQLite file under ./var)."""

    model_config = SettingsConfigDict(env_prefix="YUNWANG_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/yunwang.db", description="SQLAlchemy URL; postgresql+psycopg://… in production"
    )
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("var")
    max_upload_bytes: int = 20 * 1024 * 1024
    log_level: str = "INFO"
    # Key for device credentials at rest (Fernet); generated into data_dir when unset.
    secret_key: SecretStr | None = None
    clouds_yaml: Path | None = None
    scheduler_enabled: bool = True
    metrics_recompute_seconds: int = 60

    def ensure_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.database_url.startswith("sqlite:///") and not self.database_url.startswith("sqlite:////"):
            Path(self.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
