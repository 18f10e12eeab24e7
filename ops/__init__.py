"""Operations: Prometheus metrics, JSON request logs, optional OpenTelemetry tracing."""
