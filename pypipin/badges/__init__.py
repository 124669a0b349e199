"""What a badge says, as pure functions: URL parsing, the kinds and their rules, lifetimes, logo checks."""
