"""Local accounts (core/accounts.py, core/passwords.py) on SQLite and PostgreSQL: hashing, the password rules,
names unique up to width/case/space and never an API token's name, lock-out after 5 failures, the audit log."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from core import accounts, passwords
from core.audit import ChangeContext
from core.db import Database
from core.enums import Role
from core.errors import Conflict, ValidationFailed
from core.identity import create_token, identity_key
from core.models import Account, ChangeLog
from core.times import from_db
from tests.builders import Inv

PW = "correct horse battery"  # 21 characters
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def _ctx(actor: str = "admin-1", at: datetime | None = None) -> ChangeContext:
    return ChangeContext(actor=actor, role="admin", at=at)


def _new(name: str = "zhang.wei", password: str | None = PW, role: Role = Role.CLOUD_OPERATOR) -> accounts.NewAccount:
    return accounts.NewAccount(username=name, role=role, password=password)


def test_the_password_is_stored_as_an_argon2id_hash_and_nowhere_else(any_db: Database) -> None:
    with any_db.session() as s:
        a = accounts.create(s, _ctx(), _new())
        assert a.password_hash is not None and a.password_hash.startswith("$argon2id$v=19$")
        assert PW not in a.password_hash
        assert passwords.verify(a.password_hash, PW) and not passwords.verify(a.password_hash, PW + "x")
        entries = list(s.scalars(select(ChangeLog).where(ChangeLog.kind == "accounts")))
        assert len(entries) == 1 and entries[0].actor == "admin-1"
        text = repr(entries[0].after)
        assert "argon2" not in text and PW not in text and "password_hash" not in text


def test_composed_and_decomposed_characters_are_the_same_password() -> None:
    composed = "Mật khẩu của tôi"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert passwords.verify(passwords.hash_password(composed), decomposed)


@pytest.mark.parametrize(
    ("password", "problem"),
    [("123456789", "at least 10"), ("Zhang.Wei", "at least 10"), ("ＺＨＡＮＧ.ＷＥＩ.ＸＹ", "must not equal")],
)
def test_password_rules_refuse_and_write_nothing(any_db: Database, password: str, problem: str) -> None:
    with any_db.session() as s:
        with pytest.raises(ValidationFailed) as err:
            accounts.create(s, _ctx(), _new("zhang.wei.xy" if "ＸＹ" in password else "zhang.wei", password))
        assert any(problem in p.message for p in err.value.problems)
        assert all(p.value is None for p in err.value.problems)  # the password is never echoed
        assert s.scalar(select(func.count()).select_from(Account)) == 0


def test_ten_characters_are_enough(any_db: Database) -> None:
    with any_db.session() as s:
        assert accounts.create(s, _ctx(), _new(password="0123456789")).id > 0


def test_usernames_are_unique_up_to_width_case_and_spaces_and_never_a_token_name(any_db: Database) -> None:
    with any_db.session() as s:
        accounts.create(s, _ctx(), _new("Zhang  Wei"))
        for twin in ("zhang wei", "ＺＨＡＮＧ　ＷＥＩ", " zhang\tWEI "):
            with pytest.raises(Conflict):
                accounts.create(s, _ctx(), _new(twin))
        create_token(s, "ops-robot", Role.CLOUD_OPERATOR)
        with pytest.raises(Conflict):
            accounts.create(s, _ctx(), _new("OPS-robot"))
        with pytest.raises(Conflict):  # and the other way round: a token cannot take an account's name
            create_token(s, "zhang wei", Role.AUDITOR)
        assert s.scalar(select(func.count()).select_from(Account)) == 1


def test_scoped_roles_need_a_unit_and_reserved_names_are_refused(any_db: Database) -> None:
    with any_db.session() as s:
        unit = Inv(s).basic()["unit"]
        with pytest.raises(ValidationFailed):
            accounts.create(s, _ctx(), _new("li", role=Role.DEPARTMENT_USER))
        with pytest.raises(ValidationFailed):
            accounts.create(s, _ctx(), _new("system:root"))
        a = accounts.create(s, _ctx(), accounts.NewAccount("li", Role.DEPARTMENT_USER, unit, password=PW))
        assert a.unit_id == unit


# From the review: each looked like "zhang" (or like the auto-approver) on screen and was accepted.
LOOKALIKES = [
    "zhang\u2060",  # word joiner
    "zh\u200dang",  # zero-width joiner
    "zhang\u200b",  # zero-width space
    "zhang\u00ad",  # soft hyphen
    "\u200c",  # only an invisible character
    "\u2060system:auto-approval",
    " system :x",  # spaces inside the reserved prefix
    "\u3164",  # Hangul filler, shows as a blank
]


@pytest.mark.parametrize("name", LOOKALIKES)
def test_names_with_invisible_characters_or_a_hidden_reserved_prefix_are_refused(any_db: Database, name: str) -> None:
    with any_db.session() as s:
        before = s.scalar(select(func.count()).select_from(ChangeLog))
        with pytest.raises(ValidationFailed):
            accounts.create(s, _ctx(), _new(name))
        with pytest.raises(ValidationFailed):
            create_token(s, name, Role.ADMIN)
        assert s.scalar(select(func.count()).select_from(ChangeLog)) == before
        assert s.scalar(select(func.count()).select_from(Account)) == 0


def _outcomes(s: object) -> list[str]:
    rows = s.scalars(select(ChangeLog).where(ChangeLog.kind == "account_logins").order_by(ChangeLog.id))  # type: ignore[attr-defined]
    return [r.after["outcome"] for r in rows]


def test_five_failures_lock_for_fifteen_minutes(any_db: Database) -> None:
    with any_db.session() as s:
        accounts.create(s, _ctx(), _new())
        for i in range(4):
            assert (
                accounts.login(s, _ctx("zhang.wei", T0 + timedelta(seconds=i)), "zhang.wei", "wrong password!") is None
            )
        a = accounts.require(s, "zhang.wei")
        assert (a.failed_logins, a.locked_until) == (4, None)
        assert accounts.login(s, _ctx("zhang.wei", T0 + timedelta(seconds=4)), "zhang.wei", "wrong again!!") is None
        assert a.failed_logins == 5
        assert a.locked_until is not None and from_db(a.locked_until) == T0 + timedelta(seconds=4, minutes=15)
        # locked: even the right password is refused, until 15 minutes after the fifth failure
        assert accounts.login(s, _ctx("zhang.wei", T0 + timedelta(minutes=15, seconds=3)), "zhang.wei", PW) is None
        ok = accounts.login(s, _ctx("zhang.wei", T0 + timedelta(minutes=15, seconds=5)), "zhang.wei", PW)
        assert ok is not None and ok.failed_logins == 0 and ok.locked_until is None
        assert from_db(ok.last_login_at) == T0 + timedelta(minutes=15, seconds=5)  # type: ignore[arg-type]
        assert _outcomes(s) == ["wrong_password"] * 4 + ["locked_out", "locked", "success"]


def test_a_success_resets_the_count_and_unknown_names_are_recorded(any_db: Database) -> None:
    with any_db.session() as s:
        accounts.create(s, _ctx(), _new())
        for _ in range(3):
            accounts.login(s, _ctx("zhang.wei"), "zhang.wei", "nope nope nope")
        assert accounts.login(s, _ctx("zhang.wei"), "ZHANG.WEI", PW) is not None  # the name as its key
        assert accounts.require(s, "zhang.wei").failed_logins == 0
        assert accounts.login(s, _ctx("ghost"), "ghost", PW) is None
        assert _outcomes(s) == ["wrong_password"] * 3 + ["success", "unknown_username"]


def test_disabled_accounts_cannot_sign_in_and_unlock_lifts_a_lock(any_db: Database) -> None:
    with any_db.session() as s:
        a = accounts.create(s, _ctx(), _new())
        accounts.update(s, _ctx(), a, disabled=True)
        assert accounts.login(s, _ctx("zhang.wei"), "zhang.wei", PW) is None
        accounts.update(s, _ctx(), a, disabled=False)
        a.failed_logins, a.locked_until = 5, T0 + timedelta(days=365)
        accounts.unlock(s, _ctx(), a)
        assert accounts.login(s, _ctx("zhang.wei"), "zhang.wei", PW) is not None
        changes = [r.message for r in s.scalars(select(ChangeLog).where(ChangeLog.kind == "accounts"))]
        assert changes == [None, None, None, "unlocked / 已解锁"]


def test_a_new_password_follows_the_rules(any_db: Database) -> None:
    with any_db.session() as s:
        a = accounts.create(s, _ctx(), _new())
        with pytest.raises(ValidationFailed):
            accounts.set_password(s, _ctx(), a, "short")
        accounts.set_password(s, _ctx(), a, "a brand new passphrase")
        assert accounts.login(s, _ctx("zhang.wei"), "zhang.wei", PW) is None
        assert accounts.login(s, _ctx("zhang.wei"), "zhang.wei", "a brand new passphrase") is not None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.text(st.characters(categories=("Lu", "Ll", "Nd")), min_size=1, max_size=20),
    pad=st.sampled_from(["", " ", "  ", "\t"]),
)
def test_a_name_and_its_case_and_padding_variants_have_one_key(name: str, pad: str) -> None:
    clean = accounts.normalise_username(pad + name + pad)
    assert identity_key(clean) == identity_key(name) == identity_key(name.casefold())
    assert identity_key(identity_key(name)) == identity_key(name)  # a key is its own key (stable when stored)
    assert clean == clean.strip() and "  " not in clean


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=10, max_size=30).filter(lambda p: len(unicodedata.normalize("NFC", p)) >= 10))
def test_a_password_never_appears_in_its_problems(password: str) -> None:
    for p in passwords.problems(password, "someone"):
        assert p.value is None and password not in p.message
