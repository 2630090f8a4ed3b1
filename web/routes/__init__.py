"""Thin route handlers, one module per area; each exposes ``routers``."""
