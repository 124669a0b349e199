"""What a client may cost: per-client budgets and the token bucket under every limit."""
