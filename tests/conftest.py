import os

# No model hub is reachable: a hub lookup would otherwise cost ~23 s before failing.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("JINA_OPTOUT_TELEMETRY", "1")
