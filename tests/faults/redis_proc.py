"""A redis-server the test can kill -9 and restart (shared with the chaos soak)."""

from chaos.procs import RedisProcess

__all__ = ["RedisProcess"]
