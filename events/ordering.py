"""The ordering buffer of one subscriber (`Subscription`): each loan's events
in `seq` order, every event id at most once (see events/broker.py for the rules).

The broker hands events over with `offer` (no await: a plain deque, and one
waiter future while the subscriber waits); `async for` takes them in order."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.errors import CodedError
from events.types import DomainEvent

if TYPE_CHECKING:
    from events.memory_broker import Broker

log = logging.getLogger("loangraph.events.broker")

DEFAULT_GAP_WAIT = 0.5
DEFAULT_QUEUE_SIZE = 2000
SEEN_IDS = 512  # event ids remembered per loan for de-duplication
_CLOSE = object()
_EMPTY: deque[Any] = deque(maxlen=0)  # shared by every subscriber's empty inbox; never appended to


class SubscriptionOverflow(Exception):
    """The subscriber fell too far behind; it was dropped (resubscribe and re-read)."""


class SubscriptionInterrupted(CodedError):
    """The event bus was cut off (Redis outage): events may have been missed, so
    the subscription ends with this error instead of carrying on with a gap."""

    code = "SERVICE_UNAVAILABLE"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "Live updates were interrupted (the event bus reconnected) and some may "
            "have been missed; subscribe again to get the current state",
            retryable=True,
        )


@dataclass
class _LoanOrder:
    last: int | None = None
    # The subscriber already shows the state at `floor`: every event of a
    # transaction at or before it is old news (`advance_to`).
    floor: int | None = None
    heap: list[tuple[int, int, int, DomainEvent]] = field(default_factory=list)
    deadline: float | None = None
    seen: set[str] = field(default_factory=set)
    # Allocated with the first event (an idle subscriber holds none).
    seen_order: deque[str] | None = None

    def mark(self, event_id: str) -> None:
        if self.seen_order is None:
            self.seen_order = deque(maxlen=SEEN_IDS)
        if len(self.seen_order) == self.seen_order.maxlen:
            self.seen.discard(self.seen_order[0])
        self.seen_order.append(event_id)
        self.seen.add(event_id)


class Subscription(AsyncIterator[DomainEvent]):
    """Events of one loan (or of every loan, `loan_id=None`), per loan in `seq` order.

    Use as `async with broker.subscribe(loan_id, after_seq=n) as sub: async for e in sub`.
    """

    _counter = itertools.count()

    def __init__(
        self,
        broker: Broker,
        loan_id: str | None,
        *,
        after_seq: int | None = None,
        gap_wait: float = DEFAULT_GAP_WAIT,
        queue_size: int = DEFAULT_QUEUE_SIZE,
    ) -> None:
        self.broker = broker
        self.loan_id = loan_id
        self.gap_wait = gap_wait
        # A plain deque and at most one waiter future (not an asyncio.Queue):
        # with ten thousand idle subscribers per process, every byte counts.
        self._inbox: deque[Any] = _EMPTY  # a deque of its own from the first offer
        self._queue_size = queue_size
        self._waiter: asyncio.Future[None] | None = None
        self._ready: list[DomainEvent] = []  # in order; a few at a time
        self._orders: dict[str, _LoanOrder] = {}
        self._closed = False
        self.overflowed = False
        self.error: BaseException | None = None
        self.dropped_late = 0
        # Gaps given up on (an event that never came): a reader that decides
        # something from the events it saw (an access re-check) decides anew.
        self.gaps_skipped = 0
        if loan_id is not None and after_seq is not None:
            self._orders[loan_id] = _LoanOrder(last=after_seq)

    # ------------------------------------------------------------ position
    def advance_to(self, seq: int, loan_id: str | None = None) -> None:
        """The subscriber already has the state at `seq`: skip everything up to it."""
        key = loan_id or self.loan_id
        if key is None:
            raise ValueError("advance_to needs a loan_id on a subscribe-all subscription")
        order = self._orders.setdefault(key, _LoanOrder())
        if order.last is None or seq > order.last:
            order.last = seq
        if order.floor is None or seq > order.floor:
            order.floor = seq
        # Drop anything already buffered at or before it.
        order.heap = [item for item in order.heap if item[0] > seq]
        order.deadline = None if not order.heap else order.deadline
        heapq.heapify(order.heap)
        self._ready = [e for e in self._ready if e.loan_id != key or e.seq > seq or e.seq <= 0]
        self._drain(order)

    # ------------------------------------------------------------ called by the broker
    def offer(self, event: DomainEvent) -> None:
        if self._closed:
            return
        if len(self._inbox) < self._queue_size:
            if self._inbox is _EMPTY:
                self._inbox = deque()
            self._inbox.append(event)
            self._wake()
        else:
            log.warning("subscriber for %s fell behind; dropping it", self.loan_id or "all loans")
            self.overflowed = True
            self._close_nowait()

    def interrupt(self, error: BaseException) -> None:
        """End the subscription with `error` once what it already has is consumed."""
        if self._closed:
            return
        self.error = error
        self._close_nowait()

    def _close_nowait(self) -> None:
        self._closed = True
        self.broker._remove(self)
        if self._inbox is _EMPTY:
            self._inbox = deque()
        self._inbox.append(_CLOSE)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self, deadline: float | None) -> None:
        """Until something is offered (or `deadline` passes: TimeoutError)."""
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            if deadline is None:
                await waiter
            else:
                await asyncio.wait_for(waiter, max(0.0, deadline - time.monotonic()))
        finally:
            self._waiter = None

    # ------------------------------------------------------------ ordering
    def _accept(self, event: DomainEvent) -> None:
        if event.seq <= 0:  # no order information: pass through once
            order = self._orders.setdefault(event.loan_id, _LoanOrder())
            if event.id not in order.seen:
                order.mark(event.id)
                self._ready.append(event)
            return
        order = self._orders.setdefault(event.loan_id, _LoanOrder())
        if event.id in order.seen:
            return
        order.mark(event.id)
        if order.floor is not None and event.seq <= order.floor:
            self.dropped_late += 1
            return
        if order.last is not None and event.seq < order.last:
            self.dropped_late += 1
            log.debug("late event %s (seq %s < %s) dropped", event.id, event.seq, order.last)
            return
        heapq.heappush(order.heap, (event.seq, event.tx_index, next(self._counter), event))
        self._drain(order)

    def _drain(self, order: _LoanOrder) -> None:
        if order.last is None:
            # Position unknown: hold the first events `gap_wait` so that ones
            # arriving slightly out of order still come out in order.
            if order.heap and order.deadline is None:
                order.deadline = time.monotonic() + self.gap_wait
            return
        while order.heap:
            seq = order.heap[0][0]
            if order.last is not None and seq > order.last + 1:
                break
            _, _, _, event = heapq.heappop(order.heap)
            if order.last is not None and seq < order.last:
                self.dropped_late += 1
                continue
            order.last = seq
            self._ready.append(event)
        if not order.heap:
            order.deadline = None
        elif order.deadline is None:
            order.deadline = time.monotonic() + self.gap_wait

    def _expire_gaps(self) -> None:
        now = time.monotonic()
        for loan_id, order in self._orders.items():
            if order.deadline is not None and order.deadline <= now and order.heap:
                skipped_to = order.heap[0][0]
                if order.last is not None:
                    self.gaps_skipped += 1
                    log.info(
                        "loan %s: gap before seq %s not filled in %.2fs; skipping",
                        loan_id,
                        skipped_to,
                        self.gap_wait,
                    )
                order.last = skipped_to - 1
                order.deadline = None
                self._drain(order)

    def _next_deadline(self) -> float | None:
        deadlines = [o.deadline for o in self._orders.values() if o.deadline is not None]
        return min(deadlines) if deadlines else None

    # ------------------------------------------------------------ iteration
    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> DomainEvent:
        while True:
            if self._ready:
                return self._ready.pop(0)
            deadline = self._next_deadline()
            if self._closed and not self._inbox:
                if self.error is not None:
                    raise self.error
                if self.overflowed:
                    raise SubscriptionOverflow("subscriber fell behind")
                raise StopAsyncIteration
            if not self._inbox:
                try:
                    await self._wait(deadline)
                except TimeoutError:
                    self._expire_gaps()
                    continue
                if not self._inbox:
                    continue
            item = self._inbox.popleft()
            if item is _CLOSE:
                self._closed = True
                # Flush what is buffered, in order, before ending.
                for order in self._orders.values():
                    while order.heap:
                        self._ready.append(heapq.heappop(order.heap)[3])
                    order.deadline = None
                continue
            self._accept(item)

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._close_nowait()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
