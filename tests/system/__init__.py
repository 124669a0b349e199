"""The processes layer: one file per real component or concern, every test marked ``processes``."""
