"""One settings object for the whole service (environment variables prefixed YUNWANG_)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from collectors import vantages


class Settings(BaseSettings):
    """Service settings; every default runs embedded (SQLite file under ./var)."""

    model_config = SettingsConfigDict(env_prefix="YUNWANG_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/yunwang.db",
        description="数据库地址 / SQLAlchemy URL; production: `postgresql+psycopg://user@host/db`",
    )
    host: str = Field(default="127.0.0.1", description="`yunwang serve` 监听地址 / address `yunwang serve` listens on")
    port: int = Field(default=8080, description="`yunwang serve` 监听端口 / port `yunwang serve` listens on")
    data_dir: Path = Field(default=Path("var"), description="本地状态目录 / local state (demo tokens, keys, reports)")
    max_upload_bytes: int = Field(
        default=20 * 1024 * 1024, description="导入文件上限（字节）/ largest accepted import file (bytes); larger → 413"
    )
    log_level: str = Field(default="INFO", description="日志级别 / log level; secrets are redacted from every log line")
    secret_key: SecretStr | None = Field(
        default=None,
        description="设备凭据加密密钥 / Fernet key for device credentials at rest; unset: `<data_dir>/credentials.key` "
        "(created 0600)",
    )
    credential_files_dir: Path | None = Field(
        default=None,
        description="`file:` 凭据引用唯一可读目录 / the only directory `file:` credential references may read; "
        "unset: `<data_dir>/secrets`",
    )
    credential_env_prefix: str = Field(
        default="YUNWANG_CRED_",
        description="`env:` 凭据引用必须的前缀 / what `env:` credential references must start with",
    )
    clouds_yaml: Path | None = Field(
        default=None,
        description="clouds.yaml 路径 / clouds.yaml of the clouds to provision on; unset: no provisioning, "
        "no capacity/drift job",
    )
    demo_cloud: bool = Field(
        default=False,
        description="内存模拟云 / with no clouds.yaml, simulate the demo inventory's gov-cloud sites in memory "
        "(`yunwang demo` sets it; nothing is created anywhere; reset at restart)",
    )
    # The clouds' own project quotas (docs/CLOUD_QUOTAS.md): "observe" never changes them (a request they cannot
    # hold fails fast, naming the quota); "managed" raises them by each request's needs and lowers them again.
    cloud_quota_mode: Literal["observe", "managed"] = Field(
        default="observe",
        description="云平台项目配额策略 / the clouds' own project quotas: `observe` never changes them, `managed` "
        "raises and returns them (docs/CLOUD_QUOTAS.md)",
    )
    scheduler_enabled: bool = Field(
        default=True, description="启用定时任务 / run the app's job scheduler (probes, capacity, look-back)"
    )
    # Background tasks (core/tasks, docs/tasks.md): unset broker = a thread pool in the service (embedded default).
    broker_url: SecretStr | None = Field(
        default=None,
        description="任务队列地址 / Celery broker URL (`amqp://user:pass@host:5672/vhost`); unset: tasks run in a "
        "thread pool inside the service",
    )
    api_threads: int = Field(
        default=40,
        ge=1,
        le=256,
        description="每个 API 进程同时执行请求的线程数 / threads per API process that run request handlers at once. "
        "Fewer serve more list requests per second, but requests that wait (a writer queued behind an import, a "
        "silent broker or sign-on provider) then hold every thread: docs/LISTS.md, 'Speed'",
    )
    task_threads: int = Field(
        default=4, ge=1, le=64, description="进程内任务线程数 / threads of the in-process task pool (no broker)"
    )
    task_retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="任务记录保留天数 / finished background jobs (their rows, results and files) are deleted this many "
        "days after they finished (daily job `tasks_retention`); queued or running ones never",
    )
    vantages: str = Field(
        default="",
        description="探测点分配 / probe vantages: `vantage=NODE_CODE,NODE_CODE;vantage2=…` (a node's subtree goes "
        "with it); its probes run on queue `probe.<vantage>` (`yunwang worker --vantage NAME`)",
    )

    @field_validator("vantages")
    @classmethod
    def _vantages_parse(cls, value: str) -> str:
        vantages.parse(value)  # a bad assignment stops the start with its reason, naming YUNWANG_VANTAGES
        return value

    scheduler_lease_seconds: int = Field(
        default=60,
        ge=3,
        description="定时任务租约时长（秒）/ a job's lease: renewed every third of it while it runs; a replica that "
        "died on another host hands its job over after this long (docs/replicas.md)",
    )
    provisioning_resume_seconds: int = Field(
        default=60, ge=1, description="中断开通自动继续的检查间隔（秒）/ how often stuck provisioning is looked for (s)"
    )
    provisioning_stall_seconds: int = Field(
        default=300,
        ge=1,
        description="开通无进展多久视为中断（秒）/ a provisioning or retirement nobody holds and that made no progress "
        "for this long is resumed by itself (s)",
    )
    metrics_recompute_seconds: int = Field(
        default=60, description="指标重算间隔（秒）/ how often the rates exporter recomputes `/metrics` (seconds)"
    )
    # Alerting (`yunwang alerting alertmanager-config`, dashboards/alerting.py): where Alertmanager sends alerts.
    alerting_yunwang_url: str = Field(
        default="http://127.0.0.1:8080",
        description="Alertmanager 访问云网的地址 / yunwang's base URL as Alertmanager reaches it (its webhook is "
        "`<url>/api/v1/notifications/alertmanager`)",
    )
    alerting_token_file: Path = Field(
        default=Path("/etc/alertmanager/yunwang.token"),
        description="Alertmanager 读取的令牌文件 / file with the bearer token Alertmanager sends to yunwang "
        "(absolute; the token never goes into the configuration)",
    )
    alerting_email_network_admin: tuple[str, ...] = Field(
        default=(), description="外网告警收件人 / e-mail addresses for alerts with audience `network_admin`"
    )
    alerting_email_cloud_chief_office: tuple[str, ...] = Field(
        default=(), description="指标告警收件人 / e-mail addresses for alerts with audience `cloud_chief_office`"
    )
    alerting_email_cloud_operator: tuple[str, ...] = Field(
        default=(), description="云与服务告警收件人 / e-mail addresses for alerts with audience `cloud_operator`"
    )
    alerting_smtp_password_file: Path | None = Field(
        default=None, description="Alertmanager 读取的 SMTP 密码文件 / SMTP password file Alertmanager reads"
    )
    # Extranet collectors (collectors/): where they run, how often, how hard.
    collector_vantage: str = Field(
        default="nanning-core", description="探测点名称 / name of this probing point, recorded with every result"
    )
    collector_icmp_interval_seconds: int = Field(default=60, description="ICMP 探测间隔 / ICMP sweep every (s)")
    collector_tcp_interval_seconds: int = Field(default=60, description="TCP 端口探测间隔 / TCP sweep every (s)")
    collector_ssh_interval_seconds: int = Field(default=900, description="SSH 采集间隔 / SSH collection every (s)")
    collector_jitter_seconds: int = Field(default=10, description="任务随机抖动 / ± jitter of every sweep (s)")
    collector_icmp_count: int = Field(default=5, description="每节点 ICMP 请求数 / echo requests per node per sweep")
    collector_icmp_packet_interval_seconds: float = Field(
        default=0.2, description="同一节点两次 ICMP 请求间隔 / gap between echo requests to one node (s)"
    )
    collector_icmp_timeout_seconds: float = Field(default=1.0, description="ICMP 超时 / echo reply timeout (s)")
    collector_icmp_privileged: bool = Field(
        default=True, description="使用原始套接字 / raw ICMP socket; false: unprivileged ICMP socket"
    )
    collector_tcp_timeout_seconds: float = Field(default=2.0, description="TCP 连接超时 / TCP connect timeout (s)")
    collector_tcp_concurrency: int = Field(default=500, description="TCP 并发连接数 / concurrent TCP connects")
    collector_ssh_concurrency: int = Field(default=50, description="SSH 并发会话数 / concurrent SSH sessions")
    collector_ssh_timeout_seconds: float = Field(default=20.0, description="SSH 超时 / SSH session timeout (s)")
    collector_retries: int = Field(
        default=2, description="超时/复位重试次数 / retries after timeouts and resets (never after auth failures)"
    )
    collector_snmp_interval_seconds: int = Field(default=300, description="SNMP 轮询间隔 / SNMP poll every (s)")
    collector_snmp_timeout_seconds: float = Field(default=2.0, description="SNMP 超时 / SNMP request timeout (s)")
    collector_snmp_concurrency: int = Field(default=100, description="SNMP 并发设备数 / devices polled at once")
    collector_degraded_loss_ratio: float = Field(
        default=0.2, description="丢包率高于此值为降级 / loss above this makes a node `degraded`"
    )
    collector_history_hours: int = Field(
        default=48, description="原始探测结果保留时长 / hours raw probe results are kept"
    )
    # Multi-cloud scheduler (orchestrator/requests/approval.py, placement.py): auto-approval limits and placement policy.
    approval_auto_enabled: bool = Field(default=True, description="启用自动审批 / approve small requests within quota")
    approval_auto_max_vcpus: int = Field(default=8, description="自动审批 vCPU 上限 / auto-approval: at most vCPUs")
    approval_auto_max_ram_mb: int = Field(
        default=16384, description="自动审批内存上限 / auto-approval: at most RAM (MB)"
    )
    approval_auto_max_instances: int = Field(
        default=2, description="自动审批云主机数上限 / auto-approval: at most servers"
    )
    approval_auto_allow_dr: bool = Field(
        default=False, description="灾备申请可自动审批 / auto-approve requests with a DR replica"
    )
    placement_core_sites: tuple[str, ...] = Field(
        default=("nanning", "南宁"), description="核心站点 / sites a DR request's primary must be in"
    )
    placement_dr_sites: tuple[str, ...] = Field(
        default=("guilin", "桂林", "wuzhou", "梧州"), description="灾备站点 / sites a DR replica may be in"
    )
    placement_weight_free: float = Field(default=1.0, description="调度权重：空闲 / weigher `free` (emptier slot)")
    placement_weight_cost: float = Field(default=0.5, description="调度权重：成本 / weigher `cost`")
    placement_weight_affinity: float = Field(
        default=0.75, description="调度权重：亲和 / weigher `affinity` (the unit already runs there or owns it)"
    )
    placement_weight_gov_cloud: float = Field(
        default=0.25, description="调度权重：政务云 / weigher `gov_cloud` (prefer the gov cloud)"
    )

    # Sign-in (core/sessions.py, core/oidc.py; docs/security.md).
    cookie_secure: bool | None = Field(
        default=None,
        description="会话 Cookie 的 Secure 标志 / the session cookies' Secure flag: unset = when the request came over "
        "https; true = always (behind a TLS proxy); false = never (plain-http demo only)",
    )
    session_idle_minutes: int = Field(default=480, ge=1, description="会话空闲超时（分钟）/ idle timeout (minutes)")
    session_absolute_hours: int = Field(
        default=12, ge=1, description="会话绝对超时（小时）/ absolute session lifetime (hours)"
    )
    oidc_issuer: str | None = Field(
        default=None,
        description="统一身份认证 OIDC 签发者 / OpenID Connect issuer URL (discovery at "
        "`<issuer>/.well-known/openid-configuration`); unset: single sign-on off",
    )
    oidc_client_id: str | None = Field(default=None, description="OIDC 客户端标识 / client id")
    oidc_client_secret: SecretStr | None = Field(
        default=None, description="OIDC 客户端密钥 / client secret (never logged or returned)"
    )
    oidc_redirect_url: str | None = Field(
        default=None, description="OIDC 回调地址 / redirect URL registered at the provider (…/auth/oidc/callback)"
    )
    oidc_scopes: str = Field(default="openid profile email", description="OIDC 请求范围 / scopes requested")
    oidc_username_claim: str = Field(default="preferred_username", description="用户名声明 / claim with the username")
    oidc_role_claim: str = Field(
        default="yunwang_role", description="角色声明 / claim with the role (a string or a list such as `groups`)"
    )
    oidc_unit_claim: str = Field(default="yunwang_unit", description="单位声明 / claim with the unit code")
    oidc_role_map: dict[str, str] = Field(
        default_factory=dict,
        description="角色映射 / claim value → yunwang role (JSON); empty: the claim carries yunwang role names",
    )
    # Notifications (core/notifications, docs/notifications.md): e-mail over SMTP, the dispatcher's pace.
    smtp_host: str | None = Field(default=None, description="SMTP 服务器 / SMTP host; unset: e-mail deliveries fail")
    smtp_port: int = Field(default=25, description="SMTP 端口 / SMTP port")
    smtp_from: str = Field(default="yunwang@localhost", description="发件人 / the From address")
    smtp_starttls: bool = Field(default=False, description="使用 STARTTLS / upgrade the connection with STARTTLS")
    smtp_user: str | None = Field(default=None, description="SMTP 用户名 / SMTP login (with the password)")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP 密码 / SMTP password (never logged)")
    notify_dispatch_seconds: int = Field(
        default=30, description="通知派发间隔（秒）/ how often the dispatcher sends due deliveries (seconds)"
    )
    notify_max_attempts: int = Field(
        default=5, description="通知最多尝试次数 / attempts (each with quick retries) before a delivery fails"
    )
    notify_backoff_seconds: float = Field(
        default=60.0, description="通知重试退避起点（秒）/ first back-off between attempts, doubled each time"
    )

    def ensure_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        url = make_url(self.database_url)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            path = Path(url.database)
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():  # the database holds token hashes and encrypted credentials: owner only
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            os.chmod(path, 0o600)
