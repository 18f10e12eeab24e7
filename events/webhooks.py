"""Webhook fan-out and delivery.

Enqueue (run by the event dispatcher): for every domain event and every
active webhook subscribed to its type whose owner may see it, one
`WebhookDelivery` item is written with a conditional put keyed by
(webhook id, "<event time>#<event id>"): a replayed event never enqueues twice.

Who receives what (the owner's rights are evaluated when the event is
dispatched; owner email and roles come from the `users` table):
  * an admin: every event;
  * the loan's borrower: every event of the loan;
  * an invited lender (a live invitation for the owner's email, or the
    participant record names the owner): the loan's `loan.*` events (terms,
    status and funding aggregates, which lenders may read) and the events of
    their own participation; never other lenders' `participant.*` events
    (those carry other lenders' emails and amounts).

Delivery (`WebhookDeliverer`, run by `loangraph worker` or the single server
process): due deliveries are found through the sparse `due-index` and claimed
with a conditional update (status PENDING and `next_attempt_at` unchanged)
that sets `claimed_by`/`claimed_until` and pushes `next_attempt_at` to the end
of the lease. Several workers are safe, and a delivery whose worker died
(kill -9) becomes due again when its lease ends. Each attempt is recorded
(attempt_log, attempts, last_status_code, last_error). 2xx is success;
anything else (including redirects and timeouts) is a failure retried with
exponential back-off (base LOANGRAPH_WEBHOOK_RETRY_BASE_SECONDS, doubling, at
most 6 h apart, +-10 % jitter) until LOANGRAPH_WEBHOOK_RETRY_HORIZON_SECONDS
after the event was enqueued, then FAILED. Each failed attempt counts towards
the webhook's consecutive failures (a success resets it); at
LOANGRAPH_WEBHOOK_DISABLE_AFTER the webhook is disabled (audited) and its
pending deliveries end as FAILED.

SSRF guard (`check_url`): the host is resolved and every address must be
public; private, loopback, link-local, unique-local, CGNAT, multicast and
unspecified addresses are refused unless LOANGRAPH_WEBHOOK_ALLOW_PRIVATE is
set; cloud metadata addresses (169.254.169.254, fd00:ec2::254, ...) are
always refused. https is required, except plain http to a loopback address
when private targets are allowed. The check runs at registration and again at
every attempt, and the request is sent to the address that was checked (the
hostname travels in Host and in TLS SNI), so DNS rebinding cannot redirect it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import json
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from cachetools import TTLCache
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from core import db
from events.signing import EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, sign
from events.types import DomainEvent
from models import ParticipantGuard, User, Webhook, WebhookDelivery
from models.participant import guard_key
from models.webhook import DeliveryAttempt
from ops.metrics import record_webhook_delivery

log = logging.getLogger("loangraph.events.webhooks")

DUE_SHARDS = 4
MAX_ATTEMPT_LOG = 50
MAX_RETRY_DELAY = 6 * 3600.0
DELIVERY_TIMEOUT = 5.0
USER_AGENT = "loangraph-webhooks/1"
DEFAULT_WEBHOOK_LEASE_SECONDS = 30.0


def utcnow() -> datetime:
    return datetime.now(UTC)


# ====================================================================== SSRF
METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_address("fd00:ec2::254"),  # AWS IMDS over IPv6
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
}


class UnsafeURL(ValueError):
    """The webhook URL is not allowed (scheme, host or the addresses it resolves to).

    `str(exc)` is safe to show the caller; `detail` (server logs only) may hold
    what the server's resolver answered, which callers never see: a named host
    that does not resolve, resolves to a private address or to a metadata address
    gets the same message, so registration cannot be used to map internal DNS."""

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail or message


# The one message for every refusal that depends on the server's DNS answers.
UNREACHABLE_HOST = "the host does not resolve to a public address that webhooks may reach"


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]

    def pinned_url(self) -> httpx.URL:
        """The URL with the checked address instead of the host name."""
        return httpx.URL(self.url).copy_with(host=self.addresses[0])


def _normalize(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
    return ip


def classify(address: str) -> str:
    """'metadata', 'loopback', 'private' (non-public of any kind) or 'public'."""
    ip = _normalize(ipaddress.ip_address(address.split("%", 1)[0]))
    if ip in METADATA_ADDRESSES:
        return "metadata"
    if ip.is_unspecified or ip.is_multicast:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if (
        ip.is_private
        or ip.is_link_local
        or ip.is_reserved
        or not ip.is_global
        or (isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"))
    ):
        return "private"
    return "public"


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeURL(UNREACHABLE_HOST, f"host {host!r} does not resolve ({exc})") from None
    out: list[str] = []
    for info in infos:
        addr = str(info[4][0])
        if addr not in out:
            out.append(addr)
    if not out:
        raise UnsafeURL(UNREACHABLE_HOST, f"host {host!r} does not resolve")
    return out


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def check_url(url: str, *, allow_private: bool) -> Target:
    """Validate a webhook URL and resolve it (blocking DNS: call it in a thread)."""
    if not isinstance(url, str) or not url or len(url) > 2048:
        raise UnsafeURL("URL must be 1-2048 characters")
    if any(c.isspace() for c in url):
        raise UnsafeURL("URL must not contain whitespace")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"malformed URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise UnsafeURL("URL must use https")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("URL must not contain credentials")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeURL("URL needs a host")
    if parts.fragment:
        raise UnsafeURL("URL must not contain a fragment")
    port = port or (443 if scheme == "https" else 80)
    addresses = resolve(host, port)
    kinds = {a: classify(a) for a in addresses}
    literal = _is_ip_literal(host)
    for addr, kind in kinds.items():
        if kind in ("metadata", "unspecified") or (
            kind in ("loopback", "private") and not allow_private
        ):
            detail = f"{host} resolves to {addr}, a {kind} address: refused"
            # An address the caller typed may be named; a name's DNS answer may not.
            raise UnsafeURL(
                f"{host} is a {kind} address: refused" if literal else UNREACHABLE_HOST, detail
            )
    if scheme == "http" and not (allow_private and all(k == "loopback" for k in kinds.values())):
        raise UnsafeURL(
            "URL must use https (plain http only to loopback when private targets are allowed)"
        )
    return Target(url=url, scheme=scheme, host=host, port=port, addresses=tuple(addresses))


# ====================================================================== enqueue
def delivery_id(event: DomainEvent) -> str:
    return f"{event.created_at}#{event.id}"


def due_shard(delivery_key: str) -> str:
    n = int(hashlib.sha1(delivery_key.encode()).hexdigest()[:8], 16) % DUE_SHARDS
    return f"due#{n}"


@dataclass(frozen=True)
class OwnerInfo:
    user_id: str
    email: str | None
    is_admin: bool


class WebhookFanout:
    """Turns domain events into WebhookDelivery items (idempotent)."""

    def __init__(self, *, webhook_cache_seconds: float = 0.5) -> None:
        self.webhook_cache_seconds = webhook_cache_seconds
        self._webhooks: list[Webhook] = []
        self._loaded_at = 0.0
        self._owners: TTLCache[str, OwnerInfo] = TTLCache(maxsize=10_000, ttl=30)
        self._guards: TTLCache[str, bool] = TTLCache(maxsize=50_000, ttl=5)
        self.enqueued = 0

    def invalidate(self) -> None:
        self._loaded_at = 0.0

    async def webhooks(self) -> list[Webhook]:
        if time.monotonic() - self._loaded_at > self.webhook_cache_seconds:

            def load() -> list[Webhook]:
                return [
                    w for w in Webhook.by_kind.query("WEBHOOK") if w.active and w.deleted_at is None
                ]

            self._webhooks = await db.run_db(load)
            self._loaded_at = time.monotonic()
        return self._webhooks

    async def _owner(self, owner_id: str) -> OwnerInfo:
        info = self._owners.get(owner_id)
        if info is None:

            def load() -> OwnerInfo:
                try:
                    user = User.get(owner_id)
                except DoesNotExist:
                    return OwnerInfo(owner_id, None, False)
                email = user.email.strip().lower() if user.email else None
                return OwnerInfo(owner_id, email, "admin" in (user.roles or []))

            info = self._owners[owner_id] = await db.run_db(load)
        return info

    async def _invited(self, loan_id: str, email: str) -> bool:
        key = guard_key(loan_id, email)
        hit = self._guards.get(key)
        if hit is None:

            def load() -> bool:
                try:
                    ParticipantGuard.get(key)
                    return True
                except DoesNotExist:
                    return False

            hit = self._guards[key] = await db.run_db(load)
        return hit

    async def audience(self, webhook: Webhook, event: DomainEvent) -> str | None:
        """How the webhook's owner may see `event`: "full" (the borrower, admins),
        "lender" (an invited lender: the lender view of the payload) or None."""
        if event.borrower_id is not None and webhook.owner_id == event.borrower_id:
            return "full"
        owner = await self._owner(webhook.owner_id)
        if owner.is_admin:
            return "full"
        if event.is_participant_event:
            own = (
                event.participant_lender_id is not None
                and event.participant_lender_id == owner.user_id
            ) or (owner.email is not None and event.participant_email == owner.email)
            return "lender" if own else None
        if owner.email is not None and await self._invited(event.loan_id, owner.email):
            return "lender"
        return None

    async def may_receive(self, webhook: Webhook, event: DomainEvent) -> bool:
        return await self.audience(webhook, event) is not None

    async def enqueue(self, events: Iterable[DomainEvent]) -> int:
        """Write the deliveries of `events`; returns how many were new."""
        events = list(events)
        if not events:
            return 0
        hooks = await self.webhooks()
        if not hooks:
            return 0
        pending: list[tuple[Webhook, DomainEvent, bool]] = []
        for event in events:
            for hook in hooks:
                if event.type not in (hook.events or []):
                    continue
                seen_as = await self.audience(hook, event)
                if seen_as is not None:
                    pending.append((hook, event, seen_as == "lender"))
        if not pending:
            return 0
        results = await asyncio.gather(*(db.run_db(self._put, h, e, lv) for h, e, lv in pending))
        created = sum(1 for r in results if r)
        self.enqueued += created
        return created

    @staticmethod
    def _put(hook: Webhook, event: DomainEvent, lender_view: bool = False) -> bool:
        now = utcnow()
        key = delivery_id(event)
        item = WebhookDelivery(
            webhook_id=hook.webhook_id,
            delivery_id=key,
            event_id=event.id,
            event=event.type,
            payload=event.webhook_body(lender_view=lender_view, recipient_id=hook.owner_id),
            status="PENDING",
            attempts=0,
            attempt_log=[],
            next_attempt_at=now,
            due_shard=due_shard(key),
            created_at=now,
            updated_at=now,
        )
        try:
            item.save(condition=WebhookDelivery.delivery_id.does_not_exist())
        except PutError as exc:
            if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
                return False  # already enqueued (a replayed event)
            raise
        return True


# ====================================================================== delivery
def retry_delay(attempts: int, base: float) -> float:
    """Seconds before the next try after `attempts` failed ones (1 -> base)."""
    delay = min(base * (2 ** max(0, attempts - 1)), max(MAX_RETRY_DELAY, base))
    return delay * random.uniform(0.9, 1.1)


def retry_schedule(base: float, horizon: float) -> list[float]:
    """Offsets (seconds after enqueue) of every attempt, without jitter (docs, tests)."""
    out, t, n = [0.0], 0.0, 1
    while True:
        t += min(base * 2 ** (n - 1), max(MAX_RETRY_DELAY, base))
        if t > horizon:
            return out
        out.append(t)
        n += 1


def encode_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class AttemptResult:
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: int


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
            claimed = await db.run_db(self._claim, delivery)
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
        shards = [f"due#{n}" for n in range(DUE_SHARDS)]
        random.shuffle(shards)
        for shard in shards:
            for d in WebhookDelivery.due.query(
                shard, WebhookDelivery.next_attempt_at <= now, limit=limit
            ):
                out.append(d)
            if len(out) >= limit:
                break
        return out[:limit]

    def _claim(self, delivery: WebhookDelivery) -> bool:
        if delivery.status != "PENDING" or delivery.next_attempt_at is None:
            return False
        now = utcnow()
        until = now + timedelta(seconds=self.lease_seconds)
        try:
            delivery.update(
                actions=[
                    WebhookDelivery.next_attempt_at.set(until),
                    WebhookDelivery.claimed_by.set(self.worker_id),
                    WebhookDelivery.claimed_until.set(until),
                    WebhookDelivery.updated_at.set(now),
                ],
                condition=(WebhookDelivery.status == "PENDING")
                & (WebhookDelivery.next_attempt_at == delivery.next_attempt_at)
                & (WebhookDelivery.next_attempt_at <= now),
            )
        except UpdateError as exc:
            if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
                return False  # another worker has it, or it changed since the index read
            raise
        return True

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
            await db.run_db(self._finish_cancelled, delivery, reason)
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
        now = utcnow()
        attempts = int(delivery.attempts or 0) + 1
        log_items = list(delivery.attempt_log or []) + [
            DeliveryAttempt(
                at=now,
                status_code=result.status_code,
                error=result.error,
                duration_ms=result.duration_ms,
            )
        ]
        log_items = log_items[-MAX_ATTEMPT_LOG:]
        actions: list[Any] = [
            WebhookDelivery.attempts.set(attempts),
            WebhookDelivery.attempt_log.set(log_items),
            WebhookDelivery.updated_at.set(now),
            WebhookDelivery.claimed_by.remove(),
            WebhookDelivery.claimed_until.remove(),
        ]
        if result.status_code is not None:
            actions.append(WebhookDelivery.last_status_code.set(result.status_code))
        else:
            actions.append(WebhookDelivery.last_status_code.remove())
        # Metric outcome of this attempt (loangraph_webhook_deliveries_total{status}):
        # delivered, retrying (failed, another attempt is scheduled) or failed (gave up).
        outcome = "delivered" if result.ok else "retrying"
        if result.ok:
            actions += [
                WebhookDelivery.status.set("DELIVERED"),
                WebhookDelivery.last_error.remove(),
                WebhookDelivery.next_attempt_at.remove(),
                WebhookDelivery.due_shard.remove(),
            ]
        else:
            actions.append(WebhookDelivery.last_error.set(result.error or "failed"))
            delay = retry_delay(attempts, self.settings.webhook_retry_base_seconds)
            next_at = now + timedelta(seconds=delay)
            created = delivery.created_at
            if (next_at - created).total_seconds() > self.settings.webhook_retry_horizon_seconds:
                outcome = "failed"
                actions += [
                    WebhookDelivery.status.set("FAILED"),
                    WebhookDelivery.next_attempt_at.remove(),
                    WebhookDelivery.due_shard.remove(),
                ]
            else:
                actions.append(WebhookDelivery.next_attempt_at.set(next_at))
        try:
            delivery.update(actions=actions, condition=WebhookDelivery.claimed_by == self.worker_id)
        except UpdateError as exc:
            if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
                log.warning(
                    "lost the claim on %s/%s; its attempt was not recorded here",
                    delivery.webhook_id,
                    delivery.delivery_id,
                )
                # The POST happened; whoever holds the claim now decides about giving up.
                record_webhook_delivery("delivered" if result.ok else "retrying")
                return
            raise
        record_webhook_delivery(outcome)
        self._count_failures(hook, result.ok)

    def _count_failures(self, hook: Webhook, ok: bool) -> None:
        try:
            if ok:
                if hook.consecutive_failures:
                    hook.update(
                        actions=[Webhook.consecutive_failures.set(0)],
                        condition=Webhook.webhook_id.exists(),
                    )
                return
            hook.update(
                actions=[Webhook.consecutive_failures.add(1)], condition=Webhook.webhook_id.exists()
            )
        except UpdateError as exc:
            log.warning("webhook %s failure counter not updated: %s", hook.webhook_id, exc)
            return
        limit = self.settings.webhook_disable_after
        if limit and hook.active and (hook.consecutive_failures or 0) >= limit:
            from services.webhooks import disable_webhook

            if disable_webhook(
                hook.webhook_id, reason=f"{hook.consecutive_failures} consecutive failed attempts"
            ):
                log.warning(
                    "webhook %s disabled after %s consecutive failures", hook.webhook_id, limit
                )

    def _finish_cancelled(self, delivery: WebhookDelivery, reason: str) -> None:
        now = utcnow()
        try:
            delivery.update(
                actions=[
                    WebhookDelivery.status.set("FAILED"),
                    WebhookDelivery.last_error.set(reason),
                    WebhookDelivery.next_attempt_at.remove(),
                    WebhookDelivery.due_shard.remove(),
                    WebhookDelivery.claimed_by.remove(),
                    WebhookDelivery.claimed_until.remove(),
                    WebhookDelivery.updated_at.set(now),
                ],
                condition=WebhookDelivery.claimed_by == self.worker_id,
            )
        except UpdateError as exc:
            if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise


__all__ = [
    "DUE_SHARDS",
    "Target",
    "UnsafeURL",
    "WebhookDeliverer",
    "WebhookFanout",
    "check_url",
    "classify",
    "delivery_id",
    "retry_delay",
    "retry_schedule",
]
