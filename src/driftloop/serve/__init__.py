"""The prediction service: a FastAPI app (``create_app``) serving the registered champion."""
