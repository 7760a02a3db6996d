"""The benchmark matrix, its summary and the report built from it."""
