"""The broker's base (`Broker`: who is subscribed to what, fan-out to their
ordering buffers) and `MemoryBroker`, which fans events out inside one process."""

from __future__ import annotations

from events.ordering import (
    DEFAULT_GAP_WAIT,
    DEFAULT_QUEUE_SIZE,
    Subscription,
    SubscriptionInterrupted,
)
from events.types import DomainEvent


class Broker:
    """Publish domain events; subscribe to one loan's events or all of them."""

    def __init__(
        self, *, gap_wait: float = DEFAULT_GAP_WAIT, queue_size: int = DEFAULT_QUEUE_SIZE
    ) -> None:
        self.gap_wait = gap_wait
        self.queue_size = queue_size
        self._by_loan: dict[str, set[Subscription]] = {}
        self._all: set[Subscription] = set()
        self.closed_total = 0  # subscriptions ended since start (events/gc_freeze.py)

    async def start(self) -> None:
        """Ready to receive: after it returns, published events reach subscribers."""

    async def stop(self) -> None:
        for sub in list(self._all) + [s for subs in self._by_loan.values() for s in subs]:
            sub.close()

    async def publish(self, event: DomainEvent) -> None:
        raise NotImplementedError

    def subscribe(
        self, loan_id: str | None = None, *, after_seq: int | None = None
    ) -> Subscription:
        """Events of `loan_id` (or all loans when None) from now on, in `seq` order.

        `after_seq`: the seq of the state the caller already shows; only later events come.
        Raises `SubscriptionInterrupted` while the broker is cut off from its bus."""
        if not self.available:
            raise SubscriptionInterrupted(
                "Live updates are unavailable right now (the event bus is reconnecting); "
                "subscribe again shortly"
            )
        sub = Subscription(
            self, loan_id, after_seq=after_seq, gap_wait=self.gap_wait, queue_size=self.queue_size
        )
        if loan_id is None:
            self._all.add(sub)
        else:
            self._by_loan.setdefault(loan_id, set()).add(sub)
        return sub

    @property
    def available(self) -> bool:
        """False while events published elsewhere cannot reach this process."""
        return True

    def subscribe_all(self) -> Subscription:
        return self.subscribe(None)

    @property
    def subscriber_count(self) -> int:
        return len(self._all) + sum(len(s) for s in self._by_loan.values())

    def _remove(self, sub: Subscription) -> None:
        self.closed_total += 1
        if sub.loan_id is None:
            self._all.discard(sub)
            return
        subs = self._by_loan.get(sub.loan_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_loan[sub.loan_id]

    def _fanout(self, event: DomainEvent) -> None:
        for sub in list(self._by_loan.get(event.loan_id, ())):
            sub.offer(event)
        for sub in list(self._all):
            sub.offer(event)


class MemoryBroker(Broker):
    """One process: publish hands the event straight to local subscribers."""

    async def publish(self, event: DomainEvent) -> None:
        self._fanout(event)
