"""The chaos soak's record: every client call, the figures and the invariants,
printed as a table."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Call:
    op: str
    request_id: str
    outcome: str  # ok | domain:<CODE> | error:<CODE> | transport | http:<status>
    seconds: float


@dataclass
class Report:
    duration: float = 0.0
    calls: list[Call] = field(default_factory=list)
    proxy: dict[str, Any] = field(default_factory=dict)
    app_metrics: dict[str, float] = field(default_factory=dict)
    webhook_deliveries: int = 0
    subscription_updates: int = 0
    subscription_restarts: int = 0
    memory: dict[str, int] = field(default_factory=dict)
    invariants: dict[str, tuple[bool, str]] = field(default_factory=dict)
    kills: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(held for held, _ in self.invariants.values())

    def table(self) -> str:
        lat = sorted(c.seconds for c in self.calls)
        p = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: 0)
        out = ["", "chaos soak", "=" * 72]
        row = lambda k, v: out.append(f"{k:<44} {v}")  # noqa: E731
        row("duration (s)", f"{self.duration:.0f}")
        row("kills (kill -9, restarted)", ", ".join(self.kills) or "none")
        row("client requests (HTTP)", len(self.calls))
        row("  p50 / p99 latency (ms)", f"{p(0.5):.0f} / {p(0.99):.0f}")
        row("DynamoDB requests through the proxy", self.proxy.get("requests_total", 0))
        row("faults injected (total)", self.proxy.get("injected_total", 0))
        for kind, ops in sorted(self.proxy.get("injected", {}).items()):
            row(f"  {kind}", sum(ops.values()))
        for name, value in sorted(self.app_metrics.items()):
            row(name, f"{value:.0f}")
        outcomes = Counter(c.outcome for c in self.calls)
        row("client-visible outcomes", "")
        for outcome, n in sorted(outcomes.items()):
            row(f"  {outcome}", n)
        row("webhook deliveries received", self.webhook_deliveries)
        row("subscription updates received", self.subscription_updates)
        row("subscriptions restarted by clients", self.subscription_restarts)
        if self.memory:
            row(
                "replica B RSS after warm-up -> end (MB)",
                f"{self.memory['warm'] / 2**20:.0f} -> {self.memory['end'] / 2**20:.0f}",
            )
        out.append("-" * 72)
        for name, (held, detail) in self.invariants.items():
            out.append(f"{'HELD ' if held else 'BROKEN'} {name}: {detail}")
        out.append("=" * 72)
        return "\n".join(out)
