"""HTTP to the package indexes and pypistats, and the bounded typed decoding of their documents."""
