"""Pure stage functions: fetch, clean, dedup, classify over typed values."""
