"""What the tests share that is not a fixture: paths and specs, processes on 127.0.0.1, the
trained state, S3 stores on moto, and the metric reader. Fixtures stay in the conftest.py
files; they and the tests import from here (``from ..support.state import TrainedState``)."""
