"""Read API handlers: plain functions over the store that return JSON-able dicts, with no web
framework in them; the HTTP process maps routes to them."""
