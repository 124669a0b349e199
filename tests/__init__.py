"""pypipin's tests: the in-memory layer (test_<module>.py), the processes layer (system/), what they share
(support/)."""
