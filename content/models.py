"""Tables of the content library (being built)."""
