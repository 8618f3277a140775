"""What each event says: a title and a body, Chinese first with English beside, from the event's payload."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from string import Formatter
from typing import Any

from core.notifications.models import EventType


@dataclass(frozen=True)
class Template:
    title_zh: str
    title_en: str
    body_zh: str
    body_en: str


T = EventType
TEMPLATES: dict[EventType, Template] = {
    T.APPROVAL_WAITING: Template(
        "待审批：{code} {title}",
        "approval waiting: {code} {title}",
        "申请 {code}「{title}」等待{level_zh}审批。",
        "Request {code} ({title}) waits for {level_en} approval.",
    ),
    T.REQUEST_APPROVED: Template(
        "申请已批准：{code}",
        "request approved: {code}",
        "申请 {code}「{title}」已批准。{message}",
        "Request {code} ({title}) was approved. {message}",
    ),
    T.REQUEST_REJECTED: Template(
        "申请被驳回：{code}",
        "request rejected: {code}",
        "申请 {code}「{title}」被驳回：{message}",
        "Request {code} ({title}) was rejected: {message}",
    ),
    T.REQUEST_PROVISIONED: Template(
        "资源已开通：{code}",
        "request provisioned: {code}",
        "申请 {code}「{title}」的资源已开通（{clouds}）。",
        "The resources of request {code} ({title}) are provisioned ({clouds}).",
    ),
    T.REQUEST_FAILED: Template(
        "开通失败：{code}",
        "request failed: {code}",
        "申请 {code}「{title}」开通失败：{message}",
        "Provisioning request {code} ({title}) failed: {message}",
    ),
    T.NODE_DOWN: Template(
        "外网节点中断：{code} {name}",
        "extranet node down: {code} {name}",
        "节点 {code}（{name}）于 {at} 由 {old} 变为 down。",
        "Node {code} ({name}) went from {old} to down at {at}.",
    ),
    T.NODE_RECOVERED: Template(
        "外网节点恢复：{code} {name}",
        "extranet node recovered: {code} {name}",
        "节点 {code}（{name}）于 {at} 恢复为 {new}。",
        "Node {code} ({name}) recovered to {new} at {at}.",
    ),
    T.RATE_BELOW_TARGET: Template(
        "{month} 月末指标未达标：{label_zh}",
        "{month} month end: {label_en} below target",
        "{label_zh} 月末为 {ratio}（{numerator}/{denominator}），低于目标 {target}。",
        "{label_en} was {ratio} ({numerator}/{denominator}) at month end, below its target {target}.",
    ),
    T.ALERT_FIRING: Template(
        "告警：{alertname}",
        "alert firing: {alertname}",
        "告警 {alertname} 自 {starts_at} 起触发。{summary}",
        "Alert {alertname} firing since {starts_at}. {summary}",
    ),
    T.ALERT_RESOLVED: Template(
        "告警恢复：{alertname}",
        "alert resolved: {alertname}",
        "告警 {alertname} 已于 {ends_at} 恢复。{summary}",
        "Alert {alertname} resolved at {ends_at}. {summary}",
    ),
    T.TEST: Template(
        "测试通知",
        "test notification",
        "这是一条来自云网的测试通知（订阅 {subscription}）。",
        "This is a test notification from yunwang (subscription {subscription}).",
    ),
}


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def _fill(text: str, payload: Mapping[str, Any]) -> str:
    return Formatter().vformat(text, (), _Missing(payload)).strip()


def render(event_type: EventType, payload: Mapping[str, Any]) -> tuple[str, str]:
    """(title, body): "中文 / English" title; the body's Chinese line first, the English line below it."""
    t = TEMPLATES[event_type]
    title = f"{_fill(t.title_zh, payload)} / {_fill(t.title_en, payload)}"
    return title[:300], f"{_fill(t.body_zh, payload)}\n{_fill(t.body_en, payload)}"
