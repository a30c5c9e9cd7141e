"""The offline demo: a bundled two-site news sample served on localhost and ingested end to end."""
