"""HTTP routes, one module per resource; each handler hands off to the service objects."""
