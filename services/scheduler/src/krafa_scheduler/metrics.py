from prometheus_client import Counter

STEPS_FIRED = Counter("krafa_scheduler_steps_fired_total", "Timeline steps fired", ["step"])
