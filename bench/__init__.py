"""Side-by-side benchmarks of Squall against peer servers (see README.md)."""
