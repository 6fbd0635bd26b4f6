"""The real-time path: events in over HTTP, memberships updated from a stream, segments
served to web pages (docs/realtime.md)."""
