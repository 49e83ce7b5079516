"""One module per external system (object store, MLflow, Evidently, the store's key families)."""
