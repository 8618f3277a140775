"""Schema migrations: one alembic environment, one version branch per package, upgraded to all heads."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

import collectors
import core
import dashboards
import inventory
import migrations_plan
import orchestrator

# Packages that own tables; each keeps its revisions in <package>/migrations/versions.
PACKAGES = (inventory, collectors, dashboards, orchestrator, migrations_plan, core)
MODEL_MODULES = (
    "core.models",
    "core.tasks.models",
    "core.notifications.models",
    "inventory.models",
    "collectors.models",
    "orchestrator.requests.models",
    "orchestrator.provisioning.models",
    "migrations_plan.models",
    "dashboards.models",
)


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(core.__file__).parent / "migrations"))  # the one env.py
    locations = [
        str(Path(pkg.__file__).parent / "migrations" / "versions")  # type: ignore[arg-type]
        for pkg in PACKAGES
        if (Path(pkg.__file__).parent / "migrations" / "versions").is_dir()  # type: ignore[arg-type]
    ]
    cfg.set_main_option("version_locations", " ".join(locations))
    cfg.set_main_option("path_separator", "space")
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    cfg.attributes["model_modules"] = MODEL_MODULES
    return cfg


def upgrade(database_url: str) -> None:
    """Bring the database to the newest schema of every package."""
    command.upgrade(alembic_config(database_url), "heads")


def revision(database_url: str, message: str, branch: str) -> None:
    """Autogenerate a revision on one package's branch with only that package's tables (developer tool).

    A package's first revision starts its own branch, depending on the inventory branch.
    """
    path = Path(str(__import__(branch).__file__)).parent / "migrations" / "versions"
    path.mkdir(parents=True, exist_ok=True)
    cfg = alembic_config(database_url)
    cfg.attributes["only_package"] = branch
    first = not any(path.glob("*.py"))
    if first:
        cfg.set_main_option("version_locations", cfg.get_main_option("version_locations", "") + " " + str(path))
        command.revision(
            cfg,
            message=message,
            autogenerate=True,
            head="base",
            branch_label=branch,
            depends_on="inventory@head" if branch != "inventory" else None,
            version_path=str(path),
        )
    else:
        command.revision(cfg, message=message, autogenerate=True, head=f"{branch}@head", version_path=str(path))
