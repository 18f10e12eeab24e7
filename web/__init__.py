"""The HTTP and WebSocket edge of the app: authentication once per request and
per socket, and WebSocket sessions that keep checking what they were allowed."""
