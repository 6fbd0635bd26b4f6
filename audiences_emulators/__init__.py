"""Local HTTP emulators of destination APIs (for tests, benchmarks and the sandbox)."""
