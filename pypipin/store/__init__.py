"""Key-value stores: the in-process segmented LRU, and Redis that falls back to it."""
