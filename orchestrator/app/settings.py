"""One settings object for the whole service (environment variables prefixed YUNWANG_)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url


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
    # `file:` credential references only inside this directory (default <data_dir>/secrets);
    # `env:` references only to variables starting with this prefix.
    credential_files_dir: Path | None = None
    credential_env_prefix: str = "YUNWANG_CRED_"
    clouds_yaml: Path | None = None
    # The clouds' own project quotas (docs/CLOUD_QUOTAS.md): "observe" never changes them (a request they cannot
    # hold fails fast, naming the quota); "managed" raises them by each request's needs and lowers them again.
    cloud_quota_mode: Literal["observe", "managed"] = "observe"
    scheduler_enabled: bool = True
    metrics_recompute_seconds: int = 60
    # Extranet collectors (collectors/): where they run, how often, how hard.
    collector_vantage: str = Field(default="nanning-core", description="name of this probing point in results")
    collector_icmp_interval_seconds: int = 60
    collector_tcp_interval_seconds: int = 60
    collector_ssh_interval_seconds: int = 900
    collector_jitter_seconds: int = 10
    collector_icmp_count: int = 5
    collector_icmp_packet_interval_seconds: float = 0.2
    collector_icmp_timeout_seconds: float = 1.0
    collector_icmp_privileged: bool = True
    collector_tcp_timeout_seconds: float = 2.0
    collector_tcp_concurrency: int = 500
    collector_ssh_concurrency: int = 50
    collector_ssh_timeout_seconds: float = 20.0
    collector_retries: int = 2
    collector_snmp_interval_seconds: int = 300
    collector_snmp_timeout_seconds: float = 2.0
    collector_snmp_concurrency: int = 100
    collector_degraded_loss_ratio: float = 0.2
    collector_history_hours: int = 48
    # Multi-cloud scheduler (orchestrator/requests/approval.py, placement.py): auto-approval limits and placement policy.
    approval_auto_enabled: bool = True
    approval_auto_max_vcpus: int = 8
    approval_auto_max_ram_mb: int = 16384
    approval_auto_max_instances: int = 2
    approval_auto_allow_dr: bool = False
    placement_core_sites: tuple[str, ...] = ("nanning", "南宁")
    placement_dr_sites: tuple[str, ...] = ("guilin", "桂林", "wuzhou", "梧州")
    placement_weight_free: float = 1.0
    placement_weight_cost: float = 0.5
    placement_weight_affinity: float = 0.75
    placement_weight_gov_cloud: float = 0.25

    def ensure_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        url = make_url(self.database_url)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            path = Path(url.database)
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():  # the database holds token hashes and encrypted credentials: owner only
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            os.chmod(path, 0o600)
