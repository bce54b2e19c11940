"""Recommendation helpers: top-k candidate generation and ranking metrics for next-basket evaluation."""
