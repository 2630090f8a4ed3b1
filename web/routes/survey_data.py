"""Routes of this area (being built; see the issue tracker)."""

routers: list = []
