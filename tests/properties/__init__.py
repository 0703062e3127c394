"""Property-based tests (hypothesis): not run against the built wheel, which has no dev tools."""
