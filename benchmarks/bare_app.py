"""The baseline of benchmarks/serve.py: a bare FastAPI endpoint that takes the JSON body of
a prediction request and returns a constant, on the same uvicorn settings as driftloop.

    uv run uvicorn benchmarks.bare_app:app --port 8001 --no-access-log
"""

from __future__ import annotations

from typing import Any

from fastapi import Body, FastAPI

app = FastAPI(title="bare endpoint")


@app.post("/predict")
async def predict(record: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """Parse the body, answer a constant prediction."""
    return {"prediction": "No", "probability": 0.5, "model_version": "0"}
