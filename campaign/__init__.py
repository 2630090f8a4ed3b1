"""Campaign planning and delivery: campaigns, contacts, channels, placements, the outbox."""
