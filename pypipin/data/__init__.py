"""Cached, single-flighted data: package summaries and download counts, and drawn images."""
