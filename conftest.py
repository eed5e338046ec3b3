import hashlib
import os
import tempfile
from pathlib import Path

# pytest keeps its last three numbered temp dirs per user and deletes older ones: a second
# checkout testing at the same time (another CI job, a second worktree) would delete the running
# embedded PostgreSQL's data directory under it. Each checkout gets a temp root of its own.
_checkout = hashlib.sha256(str(Path(__file__).resolve().parent).encode()).hexdigest()[:10]
os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", str(Path(tempfile.gettempdir()) / f"krafa-tests-{_checkout}"))
Path(os.environ["PYTEST_DEBUG_TEMPROOT"]).mkdir(parents=True, exist_ok=True)

pytest_plugins = ["krafa_kit.testing"]

# Property tests judge properties, not speed: on a busy 2-core machine a draw may take seconds,
# which Hypothesis' health check and per-example deadline would report as failures.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("krafa", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("krafa")
