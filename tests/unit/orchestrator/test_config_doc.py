"""docs/configuration.md is generated from the settings object and must not drift from it."""

from __future__ import annotations

from orchestrator.app import config_doc
from orchestrator.app.settings import Settings


def test_configuration_doc_is_up_to_date() -> None:
    committed = config_doc.DOC_PATH.read_text(encoding="utf-8")
    assert committed == config_doc.render(), (
        "docs/configuration.md is out of date: run `.venv/bin/python -m orchestrator.app.config_doc`"
    )


def test_every_setting_is_described_and_listed() -> None:
    doc = config_doc.render()
    # counted: 70 + demo_cloud + 3 replica settings + 4 task settings + api_threads
    assert len(Settings.model_fields) == 79
    for name, field in Settings.model_fields.items():
        assert field.description, f"Settings.{name} has no description"
        assert f"| `YUNWANG_{name.upper()}` |" in doc
    assert "| `YUNWANG_DATABASE_URL` | str | `sqlite:///var/yunwang.db` |" in doc
    assert "| `YUNWANG_SECRET_KEY` | SecretStr \\| None | unset |" in doc
    assert '| `YUNWANG_CLOUD_QUOTA_MODE` | "observe" \\| "managed" | `observe` |' in doc
    assert "| `YUNWANG_PLACEMENT_CORE_SITES` | tuple[str, ...] | `nanning, 南宁` |" in doc
    assert "| `YUNWANG_APPROVAL_AUTO_ALLOW_DR` | bool | `false` |" in doc
