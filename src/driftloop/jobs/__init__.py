"""Jobs: orchestration that wires pure logic to the store, MLflow and the network."""
