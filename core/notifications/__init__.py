"""Notifications: a transactional outbox of events (`outbox.emit`), subscriptions per user and per role,
deliveries sent once each by the dispatcher (a job on the one scheduler) over e-mail and webhooks (JSON, WeCom,
DingTalk), and the Alertmanager receiver. Producers call `emit` inside their own transaction. Docs:
docs/notifications.md."""
