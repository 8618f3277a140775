"""The `yunwang` command line (typer + rich)."""

from __future__ import annotations

import getpass
import logging

import typer
import uvicorn
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from collectors.devices_cli import make_app as devices_cli
from core import accounts
from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.errors import AppError
from core.identity import create_token, revoke_token
from core.logs import configure
from core.models import ApiToken
from dashboards.report_cli import make_app as report_cli
from inventory.models import Unit
from migrations_plan.cli import make_app as plan_cli
from orchestrator.app import schema as dbschema
from orchestrator.app.accounts_cli import make_app as accounts_cli
from orchestrator.app.alerting_cli import make_app as alerting_cli
from orchestrator.app.cloud_cli import make_app as clouds_cli
from orchestrator.app.factory import create_app
from orchestrator.app.inventory_cli import register as register_io
from orchestrator.app.plan_capacity import plan_capacity
from orchestrator.app.probe_cli import register as register_probe
from orchestrator.app.settings import Settings
from orchestrator.app.worker_cli import register as register_worker
from orchestrator.requests.cli import make_app as requests_cli

app = typer.Typer(
    help="yunwang 云网: cloud-and-network orchestration for the Guangxi e-government", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema / 数据库", no_args_is_help=True)
token_app = typer.Typer(help="API tokens / 访问令牌", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
register_io(app)  # yunwang import / export / template
console = Console()
log = logging.getLogger("yunwang")
register_probe(app, console)  # yunwang probe NODE_CODE (a probe-now job with a progress bar)
register_worker(app, lambda: _settings())  # yunwang worker [--queues …] [--vantage NAME] (Celery, docs/tasks.md)


def _settings() -> Settings:
    """The settings, or a short message naming each bad variable (exit 2) instead of a traceback."""
    try:
        s = Settings()
    except ValidationError as exc:
        for e in exc.errors():
            name = "YUNWANG_" + "_".join(str(x) for x in e["loc"]).upper()
            typer.echo(f"配置错误 / bad setting {name}: {e['msg']}", err=True)
        raise typer.Exit(2) from None
    s.ensure_dirs()
    return s


app.add_typer(plan_cli(lambda: Database(_settings().database_url), plan_capacity), name="plan")  # as the API
app.add_typer(report_cli(lambda: Database(_settings().database_url)), name="report")
_request_cli, _quota_cli = requests_cli(lambda: Database(_settings().database_url))
app.add_typer(_request_cli, name="request")
app.add_typer(_quota_cli, name="quota")
app.add_typer(clouds_cli(_settings), name="cloud")
app.add_typer(devices_cli(lambda: Database(_settings().database_url)), name="devices")
app.add_typer(accounts_cli(lambda: Database(_settings().database_url), console), name="accounts")
app.add_typer(alerting_cli(Settings), name="alerting")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the schema of every package to the newest revision."""
    s = _settings()
    dbschema.upgrade(s.database_url)
    console.print("[green]schema up to date[/green]")


@db_app.command("revision")
def db_revision(message: str = typer.Option(..., "-m"), branch: str = typer.Option("inventory")) -> None:
    """Autogenerate a migration on one package's branch (developers)."""
    s = _settings()
    dbschema.upgrade(s.database_url)
    dbschema.revision(s.database_url, message, branch)


@token_app.command("create")
def token_create(
    name: str = typer.Option(..., help="who or what uses the token"),
    role: Role | None = typer.Option(None, help="role (required unless --owner)"),
    unit: str | None = typer.Option(None, help="unit code, for scoped roles"),
    owner: str | None = typer.Option(
        None, help="an account's username: the token acts as that person (their role and unit, one identity)"
    ),
) -> None:
    """Create an API token; it is printed once and stored only as a hash."""
    s = _settings()
    db = Database(s.database_url)
    try:
        with db.session() as session:
            unit_id = None
            if unit:
                found = session.query(Unit).filter_by(code=unit).one_or_none()
                if found is None:
                    raise typer.BadParameter(f"unknown unit code {unit!r}", param_hint="--unit")
                unit_id = found.id
            if owner is not None and role is None:
                if unit:
                    raise typer.BadParameter(
                        "with --owner the unit is the account's: leave --unit out", param_hint="--unit"
                    )
                account = accounts.require(session, owner)
                role, unit_id = account.role, account.unit_id
            if role is None:
                raise typer.BadParameter("give --role (or --owner)", param_hint="--role")
            plain = create_token(session, name, role, unit_id, owner=owner, ctx=_cli_context())
    except AppError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from None
    console.print(plain)


@token_app.command("list")
def token_list() -> None:
    """List tokens (name, role, prefix), never the tokens themselves."""
    s = _settings()
    db = Database(s.database_url)
    table = Table("name", "owner", "role", "prefix", "unit_id", "revoked", "created_at")
    with db.session() as session:
        for t in session.query(ApiToken).order_by(ApiToken.id):
            table.add_row(
                t.name,
                t.owner_key or "",
                t.role.value,
                t.prefix + "…",
                str(t.unit_id or ""),
                str(t.revoked),
                str(t.created_at),
            )
    console.print(table)


@token_app.command("revoke")
def token_revoke(name: str) -> None:
    """Revoke a token by name."""
    s = _settings()
    db = Database(s.database_url)
    with db.session() as session:
        if not revoke_token(session, _cli_context(), name):
            console.print(f"[red]no token named {name!r}[/red]")
            raise typer.Exit(2)
    console.print(f"revoked {name}")


def _cli_context() -> ChangeContext:
    """Who the change log names for a command run on the server: the operating-system user."""
    return ChangeContext(actor=f"cli:{getpass.getuser()}", role=Role.ADMIN.value)


@app.command()
def serve(
    host: str | None = typer.Option(None, help="bind address (default from settings)"),
    port: int | None = typer.Option(None, help="port (default from settings)"),
    upgrade: bool = typer.Option(True, help="upgrade the schema first"),
) -> None:
    """Run the API service."""
    s = _settings()
    configure(s.log_level)
    if upgrade:
        dbschema.upgrade(s.database_url)
    uvicorn.run(create_app(s), host=host or s.host, port=port or s.port, log_config=None, access_log=False)


def _demo_accounts(s: Settings, db: Database, units: list[tuple[Role, str | None]]) -> None:
    from orchestrator.app import demo_accounts

    with db.session() as session:
        issued = demo_accounts.issue_accounts(session, units)
    db.dispose()
    path = demo_accounts.write_account_file(s.data_dir, issued)
    console.print(
        f"demo accounts / 演示账户 (sign in at /; passwords in {path}): " + ", ".join(a.username for a in issued)
    )


@app.command()
def demo(
    reset: bool = typer.Option(False, "--reset", help="drop everything and load the demo again / 清空后重新加载"),
    scale: float = typer.Option(1.0, "--scale", min=0.01, help="multiplies systems, networks and the like"),
    serve_after: bool = typer.Option(True, "--serve/--no-serve", help="serve the API after loading"),
    host: str | None = typer.Option(None, help="bind address (default from settings)"),
    port: int | None = typer.Option(None, help="port (default from settings)"),
    check_port: bool = typer.Option(False, "--check-port", hidden=True, help="only check the port (scripts/demo.sh)"),
) -> None:
    """Load the demo inventory of Guangxi (demo data / 演示数据), issue one token per role, then serve.

    Without a clouds.yaml the clouds are the in-memory demo cloud (内存模拟云: nothing is created anywhere)."""
    from orchestrator.app import demo as demo_setup

    s = _settings()
    configure(s.log_level)
    host, port = host or s.host, port or s.port
    # Before anything changes, with or without --no-serve: a busy port is most likely a demo serving this very
    # database, which a reset or new tokens would pull from under it.
    problem = demo_setup.port_problem(host, port)
    if problem is not None:
        console.print(f"[red]{problem}[/red]")
        raise typer.Exit(demo_setup.PORT_BUSY_EXIT)
    if check_port:
        return
    if reset:
        demo_setup.reset_database(s.database_url)
    dbschema.upgrade(s.database_url)
    db = Database(s.database_url)
    try:
        with db.session() as session:
            if demo_setup.has_units(session):
                console.print("database already has units; keeping them (use --reset to reload the demo)")
            else:
                with console.status("loading the demo inventory / 正在加载演示数据…"):
                    summary = demo_setup.load(session, scale)
                console.print(
                    f"[green]demo inventory loaded[/green] in {summary.seconds:.1f}s: "
                    + ", ".join(f"{k} {v}" for k, v in summary.counts.items())
                )
        with db.session() as session:
            tokens = demo_setup.issue_tokens(session)
    finally:
        db.dispose()
    path = demo_setup.write_token_file(s.data_dir, tokens)
    _demo_accounts(s, db, [(t.role, t.unit_code) for t in tokens])  # console sign-in: one account per role
    table = Table("role / 角色", "token name", "unit / 单位", "token file / 令牌文件", title="demo tokens / 演示令牌")
    for t in tokens:
        table.add_row(t.role.value, t.name, t.unit_code or "-", str(path))
    console.print(table)
    admin_token = next(t.token for t in tokens if t.role is Role.ADMIN)
    console.print(f"admin token (shown once; all tokens are in {path}):\n{admin_token}")
    demo_setup.configure_demo(s)
    if s.demo_cloud:
        console.print(f"clouds / 云平台: [yellow]{demo_setup.demo_cloud_line()}[/yellow]")
    if serve_after:
        where = f"http://{host}:{port}"
        console.print(f"serving on {where} (API docs {where}/docs)")
        uvicorn.run(create_app(s), host=host, port=port, log_config=None, access_log=False)


if __name__ == "__main__":
    app()
