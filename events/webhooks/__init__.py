"""Webhooks on the event side: fan-out and delivery. One module per job:

* `events.webhooks.fanout`: `WebhookFanout`, run by the event dispatcher,
  turns each domain event into one delivery per active webhook subscribed to
  its type whose owner may see it (who receives what: docs/webhooks.md).
* `events.webhooks.retry`: the retry schedule (exponential back-off with
  jitter, capped, until a horizon), a pure policy.
* `events.webhooks.deliverer`: `WebhookDeliverer`, run by `loangraph worker`
  or the single server process: claims due deliveries, POSTs them signed,
  records each attempt and counts it on the webhook.

What lives elsewhere, so that services/ never imports events/:

* the SSRF guard (URL checks at registration and before every attempt):
  `core.ssrf`;
* every DynamoDB write: delivery records in `services.webhook_deliveries`,
  the webhook's failure count and auto-disable (audited) in
  `services.webhooks`.
"""

from __future__ import annotations

from events.webhooks.deliverer import WebhookDeliverer
from events.webhooks.fanout import WebhookFanout

__all__ = ["WebhookDeliverer", "WebhookFanout"]
