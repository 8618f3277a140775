"""Reading one spreadsheet cell as its column's type: read right, or refused with the reason — never guessed.

Codes and numbers are normalised (full-width digits/letters/brackets → ASCII, NBSP and ideographic spaces
dropped at the ends); free text (names, reasons) is only trimmed. Dates accept 2024-01-05, 2024/1/5,
2024.1.5, 2024年1月5日 and Excel date cells or serial numbers; enums accept their codes and Chinese labels.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta
from enum import Enum, StrEnum
from functools import cache
from typing import Any

from core import times
from inventory.io import labels
from inventory.io.labels import ENUM_LABELS

TRUE_WORDS = frozenset({"是", "true", "1", "yes", "y", "t", "对", "✓", "√", "✔", "☑"})
FALSE_WORDS = frozenset({"否", "false", "0", "no", "n", "f", "不是", "×", "✗", "✘", "☐"})
LIST_SEPARATORS = (";", "；")  # list cells: codes joined by ';' (full-width too)
FORMULA_START = ("=", "+", "-", "@")  # CSV text starting so is written with a leading ' (spreadsheet injection)
EXCEL_ERRORS = frozenset({"#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!"})
EXACT_DIGITS = 15  # Excel keeps 15 significant digits of a number
EXCEL_EPOCH = date(1899, 12, 30)  # serial 0 in the 1900 date system (Windows Excel; serials from 61 on)
MAC_EPOCH = date(1904, 1, 1)  # serial 0 in the 1904 date system (old Mac Excel: `date1904="1"` in workbook.xml)
SERIAL_RANGE = (date(1950, 1, 1), date(2100, 12, 31))  # Excel serials outside this are not taken as dates
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*(?:[T\s]\s*(.*))?")
_TIME = re.compile(r"(\d{1,2})[:时](\d{1,2})(?:[:分](\d{1,2})(\.\d+)?)?秒?\s*(Z|[+-]\d{2}:?\d{2})?")


class CellError(ValueError):
    """A cell that cannot be read as its column's type; the message says what was expected."""


class FormulaWithoutValue:
    """An XLSX formula cell saved without a cached result (e.g. written by a script, never opened in Excel)."""

    def __init__(self, formula: str) -> None:
        self.formula = formula

    def __repr__(self) -> str:
        return self.formula


def squeeze(text: str) -> str:
    """Full-width to ASCII (NFKC), zero-width characters dropped, NBSP/ideographic spaces trimmed."""
    return unicodedata.normalize("NFKC", text).translate(_INVISIBLE).strip()


def _refuse_special(raw: Any) -> None:
    if isinstance(raw, FormulaWithoutValue):
        raise CellError(
            f"公式 {raw.formula} 没有保存计算结果，请在 Excel 中打开并保存后再导入 / "
            "formula cell without a cached value (open and save the file in Excel first)"
        )
    if isinstance(raw, str) and raw.strip() in EXCEL_ERRORS:
        raise CellError(f"单元格为 Excel 错误值 {raw.strip()} / the cell holds an Excel error value")


def _integer_text(raw: float) -> str:
    """A float cell read as an integer string, refused when Excel may have rounded it."""
    if not raw.is_integer():
        return repr(raw)
    digits = str(abs(int(raw)))
    if len(digits) > EXACT_DIGITS:
        raise CellError(
            f"数值 {raw:.15g} 超过 {EXACT_DIGITS} 位，Excel 已将其按数字存储并舍入，无法还原；请将该列设为文本后重新录入 / "
            f"a number of more than {EXACT_DIGITS} digits stored by Excel cannot be recovered exactly; enter it as text"
        )
    return str(int(raw))


def text(raw: Any) -> str | None:
    """Free text: trimmed (NBSP and ideographic spaces too), None when empty; numbers as their exact digits."""
    _refuse_special(raw)
    if raw is None:
        return None
    if isinstance(raw, bool):
        return "是" if raw else "否"
    if isinstance(raw, float):
        return _integer_text(raw)
    if isinstance(raw, datetime | date):
        return raw.isoformat()
    out = str(raw).translate(_INVISIBLE).strip(" \t\r\n\u00a0\u3000")
    return out or None


def unquote(value: str | None) -> str | None:
    """Drop the one leading ' that spreadsheet-injection escaping puts before = + - @ (exports add it back)."""
    if value and value.startswith("'") and value.lstrip("'").startswith(FORMULA_START):
        return value[1:]
    return value


def code(raw: Any) -> str | None:
    """A code: normalised like `squeeze`; a code with spaces inside is refused."""
    value = unquote(text(raw))
    if value is None:
        return None
    value = squeeze(value)
    if re.search(r"\s", value):
        raise CellError(f"编码 {value!r} 中含有空格 / a code cannot contain spaces")
    return value or None


def fold(value: str) -> str:
    """The key under which codes differing only by width or case collide."""
    return squeeze(value).casefold()


def to_utc(value: datetime) -> datetime:
    return times.to_utc(value)


def _serial(raw: float, epoch: date) -> date:
    day = epoch + timedelta(days=int(raw))
    if not SERIAL_RANGE[0] <= day <= SERIAL_RANGE[1]:
        raise CellError(f"数字 {raw:g} 不是有效的 Excel 日期 / the number is not a plausible Excel date")
    return day


def _parse_datetime(raw: Any, epoch: date = EXCEL_EPOCH) -> tuple[datetime, bool]:
    """(value, has_time) from a cell; naive values are left naive; numbers are serials counted from `epoch`."""
    if isinstance(raw, datetime):
        return raw, True
    if isinstance(raw, date):
        return datetime(raw.year, raw.month, raw.day), False
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        day = _serial(raw, epoch)
        moment = datetime(day.year, day.month, day.day) + timedelta(seconds=round((raw % 1) * 86400))
        return moment, bool(raw % 1)
    value = squeeze(str(raw))
    m = _DATE.fullmatch(value)
    if m is None:
        return datetime.fromisoformat(value), "T" in value or " " in value
    y, mo, d, rest = int(m[1]), int(m[2]), int(m[3]), (m[4] or "").strip()
    day = date(y, mo, d)
    if not rest:
        return datetime(day.year, day.month, day.day), False
    t = _TIME.fullmatch(rest)
    if t is None:
        raise ValueError(rest)
    iso = f"{day.isoformat()}T{int(t[1]):02d}:{int(t[2]):02d}:{int(t[3] or 0):02d}{t[4] or ''}{t[5] or ''}"
    return datetime.fromisoformat(iso), True


def read_datetime(raw: Any, epoch: date = EXCEL_EPOCH) -> datetime:
    try:
        return to_utc(_parse_datetime(raw, epoch)[0])
    except CellError:
        raise
    except (ValueError, OverflowError):
        raise CellError(
            "应为时间，如 2024-01-31 09:30 或 2024年1月31日（无时区即北京时间） / "
            "expected a date-time like 2024-01-31T09:30:00+08:00 (no offset = Beijing time)"
        ) from None


def read_date(raw: Any, epoch: date = EXCEL_EPOCH) -> date:
    try:
        value, _ = _parse_datetime(raw, epoch)
    except CellError:
        raise
    except (ValueError, OverflowError):
        raise CellError("应为日期，如 2024-01-31、2024/1/31、2024年1月31日 / expected a date like 2024-01-31") from None
    return value.date()


def _enum_key(word: str) -> str:
    """An enum spelling as looked up: width, case and every space ignored (`migrated (已迁移)` too)."""
    return "".join(fold(word).split())


@cache
def enum_words(typ: type[Enum]) -> dict[str, str]:
    """Every accepted spelling → the stored value: the code, a Chinese label, or `code（label）` as templates show."""
    words = {_enum_key(str(m.value)): str(m.value) for m in typ}
    if issubclass(typ, StrEnum):
        for value, names in ENUM_LABELS.get(typ, {}).items():
            words.update({_enum_key(word): value for word in names})
            words.update({_enum_key(f"{value}（{word}）"): value for word in names})
    return words


def _number_text(raw: Any) -> str:
    value = squeeze(str(raw))
    return re.sub(r"[\s,]", "", value)


def read_cell(typ: Any, raw: Any, epoch: date = EXCEL_EPOCH) -> Any:  # noqa: C901 - one branch per column type
    """A cell as a typed value (None when empty); CellError when it does not fit the type.

    `epoch` is serial 0 of the workbook's date system (`MAC_EPOCH` for a workbook saved with the 1904 system).
    """
    _refuse_special(raw)
    if raw is None or (isinstance(raw, str) and not text(raw)):
        return None
    if typ is str:
        return unquote(text(raw))
    if typ is bool:
        if isinstance(raw, bool):
            return raw
        word = fold(str(text(raw)))
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise CellError("应为 是/否 / expected yes/no (是/否, ✓/×, true/false, 1/0)")
    if typ is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, float):
            if not raw.is_integer():
                raise CellError("应为整数 / expected an integer")
            return int(_integer_text(raw))
        try:
            return int(_number_text(raw))
        except ValueError:
            raise CellError("应为整数 / expected an integer") from None
    if typ is float:
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return float(raw)
        try:
            return float(_number_text(raw))
        except ValueError:
            raise CellError("应为数字 / expected a number") from None
    if typ is datetime:
        return read_datetime(raw, epoch)
    if typ is date:
        return read_date(raw, epoch)
    if isinstance(typ, type) and issubclass(typ, Enum):
        value = enum_words(typ).get(_enum_key(str(text(raw))))
        if value is None:
            shown = ", ".join(labels.shown(typ, str(m.value)) for m in typ)
            raise CellError(f"应为以下值之一 / expected one of: {shown}")
        return value
    return raw


# --- lists of codes, and values written back as cell text ------------------------------------------------


def text_or_none(raw: Any) -> str | None:
    """A cell's text, or None when it is blank or cannot be read as text."""
    try:
        return text(raw)
    except CellError:
        return None


def read_codes(raw: Any) -> list[str]:
    """A ';'-joined list of codes (full-width '；' too), each normalised, blanks dropped, duplicates kept once."""
    joined = text(raw) or ""
    for sep in LIST_SEPARATORS[1:]:
        joined = joined.replace(sep, LIST_SEPARATORS[0])
    found = (code(part) for part in joined.split(LIST_SEPARATORS[0]))
    return list(dict.fromkeys(c for c in found if c))


def cell_text(value: Any) -> str:
    """A value as file text: 是/否, enum values, ISO dates, Beijing-time date-times, ';'-joined lists."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(times.BEIJING).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (list, tuple)):
        return LIST_SEPARATORS[0].join(str(v) for v in value)
    return str(value)


def quoted_formula(text: str) -> bool:
    """Text that starts with ' before = + - @ (reading drops one such quote)."""
    return text.startswith("'") and text.lstrip("'").startswith(FORMULA_START)
