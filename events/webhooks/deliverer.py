"""Webhook delivery (`WebhookDeliverer`, run by `loangraph worker` or the
single server process).

Due deliveries are found through the sparse `due-index` and claimed
(`services.webhook_deliveries.claim`: a conditional update that sets
`claimed_by`/`claimed_until` and pushes `next_attempt_at` to the end of the
lease). Several workers are safe, and a delivery whose worker died (kill -9)
becomes due again when its lease ends: at least once.

Each attempt: the URL is checked again (`core.ssrf.check_url`) and the POST is
sent to the checked address (DNS rebinding cannot redirect it), signed
(`events.signing`). 2xx is success; anything else (including redirects and
timeouts) is a failure, retried on the schedule of `events.webhooks.retry`.
The attempt is recorded on the delivery (`record_attempt`) and counted on the
webhook (`services.webhooks.count_attempt`, audited): a failure adds to its
consecutive failures, a success resets them, and at
LOANGRAPH_WEBHOOK_DISABLE_AFTER the webhook is disabled; its pending
deliveries then end as FAILED (`cancel`). This module writes nothing itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import socket
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from pynamodb.exceptions import DoesNotExist

from core import db
from core.ssrf import UnsafeURL, check_url
from events.signing import EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, sign
from events.webhooks.retry import next_attempt_at
from models import Webhook, WebhookDelivery
from ops.metrics import record_webhook_delivery
from services import webhook_deliveries, webhooks
from services.webhook_deliveries import AttemptResult

# The logger of the webhook machinery (docs/security.md names it).
log = logging.getLogger("loangraph.events.webhooks")

DELIVERY_TIMEOUT = 5.0
USER_AGENT = "loangraph-webhooks/1"
DEFAULT_WEBHOOK_LEASE_SECONDS = 30.0


def utcnow() -> datetime:
    return datetime.now(UTC)


def encode_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class WebhookDeliverer:
    """Claims due deliveries and POSTs them; run with `await run()`, end with `stop()`."""

    def __init__(
        self,
        settings: Any,
        *,
        worker_id: str | None = None,
        poll_interval: float = 0.5,
        lease_seconds: float | None = None,
        concurrency: int = 16,
        timeout: float = DELIVERY_TIMEOUT,
    ) -> None:
        self.settings = settings
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.poll_interval = poll_interval
        self.lease_seconds = (
            lease_seconds
            or getattr(settings, "webhook_lease_seconds", None)
            or DEFAULT_WEBHOOK_LEASE_SECONDS
        )
        self.concurrency = concurrency
        self.timeout = timeout
        self._sem = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        self.attempted = 0
        self.delivered = 0

    def notify(self) -> None:
        """New deliveries were enqueued: look now instead of at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout), follow_redirects=False, trust_env=False
        )
        try:
            while not self._stopping.is_set():
                try:
                    started = await self.run_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("webhook delivery poll failed")
                    started = 0
                if started:
                    continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
        finally:
            if self._inflight:
                await asyncio.gather(*self._inflight, return_exceptions=True)
            await self._client.aclose()
            self._client = None

    async def run_once(self) -> int:
        """Claim what is due (up to the free slots) and start delivering it."""
        free = self.concurrency - len(self._inflight)
        if free <= 0:
            await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
            return 1
        due = await db.run_db(self._due, free)
        started = 0
        for delivery in due:
            if self._stopping.is_set():
                break
            claimed = await db.run_db(
                webhook_deliveries.claim,
                delivery,
                worker_id=self.worker_id,
                lease_seconds=self.lease_seconds,
            )
            if not claimed:
                continue
            task = asyncio.create_task(self._deliver(delivery))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            started += 1
        return started

    # ------------------------------------------------------------ claim
    def _due(self, limit: int) -> list[WebhookDelivery]:
        now = utcnow()
        out: list[WebhookDelivery] = []
        shards = webhook_deliveries.due_shard_keys()
        random.shuffle(shards)
        for shard in shards:
            for d in WebhookDelivery.due.query(
                shard, WebhookDelivery.next_attempt_at <= now, limit=limit
            ):
                out.append(d)
            if len(out) >= limit:
                break
        return out[:limit]

    # ------------------------------------------------------------ attempt
    async def _deliver(self, delivery: WebhookDelivery) -> None:
        async with self._sem:
            try:
                await self._attempt_and_record(delivery)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The lease runs out and another attempt follows: at least once.
                log.exception(
                    "delivery %s/%s failed unexpectedly", delivery.webhook_id, delivery.delivery_id
                )

    async def _attempt_and_record(self, delivery: WebhookDelivery) -> None:
        hook = await db.run_db(self._webhook, delivery.webhook_id)
        if hook is None or not hook.active or hook.deleted_at is not None:
            reason = (
                "webhook deleted"
                if hook is None or hook.deleted_at is not None
                else "webhook disabled"
            )
            await db.run_db(
                webhook_deliveries.cancel, delivery, worker_id=self.worker_id, reason=reason
            )
            return
        result = await self.attempt(hook, delivery)
        self.attempted += 1
        if result.ok:
            self.delivered += 1
        await db.run_db(self._record, delivery, hook, result)

    @staticmethod
    def _webhook(webhook_id: str) -> Webhook | None:
        try:
            return Webhook.get(webhook_id, consistent_read=True)
        except DoesNotExist:
            return None

    async def attempt(self, hook: Webhook, delivery: WebhookDelivery) -> AttemptResult:
        """One signed POST (SSRF check first); never raises."""
        started = time.monotonic()

        def done(ok: bool, code: int | None, error: str | None) -> AttemptResult:
            return AttemptResult(ok, code, error, int((time.monotonic() - started) * 1000))

        try:
            target = await db.run_db(
                check_url, hook.url, allow_private=self.settings.webhook_allow_private
            )
        except UnsafeURL as exc:
            log.warning("webhook %s refused at delivery: %s", hook.webhook_id, exc.detail)
            return done(False, None, f"refused: {exc}")
        payload = delivery.payload
        body = encode_body(payload)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Host": httpx.URL(target.url).netloc.decode("ascii"),
            EVENT_ID_HEADER: delivery.event_id,
            EVENT_TYPE_HEADER: payload.get("type", ""),
            "X-Loangraph-Delivery-Attempt": str((delivery.attempts or 0) + 1),
            SIGNATURE_HEADER: sign(hook.secret, body),
        }
        assert self._client is not None
        try:
            resp = await self._client.post(
                target.pinned_url(),
                content=body,
                headers=headers,
                extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
            )
        except httpx.TimeoutException:
            return done(False, None, f"timeout after {self.timeout:g}s")
        except httpx.HTTPError as exc:
            return done(False, None, f"{type(exc).__name__}: {exc}"[:500])
        if 200 <= resp.status_code < 300:
            return done(True, resp.status_code, None)
        return done(False, resp.status_code, f"HTTP {resp.status_code}")

    # ------------------------------------------------------------ record
    def _record(self, delivery: WebhookDelivery, hook: Webhook, result: AttemptResult) -> None:
        """Blocking: record the attempt on the delivery, then count it on the webhook."""
        now = utcnow()
        next_at = None
        if not result.ok:
            next_at = next_attempt_at(
                attempts=int(delivery.attempts or 0) + 1,
                created_at=delivery.created_at,
                now=now,
                base=self.settings.webhook_retry_base_seconds,
                horizon=self.settings.webhook_retry_horizon_seconds,
            )
        outcome = webhook_deliveries.record_attempt(
            delivery, result, worker_id=self.worker_id, next_attempt_at=next_at, at=now
        )
        # Metric outcome of this attempt (loangraph_webhook_deliveries_total{status}):
        # delivered, retrying (failed, another attempt is scheduled) or failed (gave up).
        if outcome is None:
            # The claim was lost: the POST happened; whoever holds the claim now
            # decides about giving up, and the attempt is not counted on the webhook.
            record_webhook_delivery("delivered" if result.ok else "retrying")
            return
        record_webhook_delivery(outcome)
        limit = self.settings.webhook_disable_after
        if webhooks.count_attempt(hook.webhook_id, ok=result.ok, disable_after=limit):
            log.warning("webhook %s disabled after %s consecutive failures", hook.webhook_id, limit)


__all__ = ["DEFAULT_WEBHOOK_LEASE_SECONDS", "USER_AGENT", "WebhookDeliverer", "encode_body"]
