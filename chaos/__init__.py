"""The chaos soak (`make chaos`): see chaos/soak.py and docs/reliability.md."""
