"""Side-by-side benchmarks: the source framework and faceport's forms in one process run."""
