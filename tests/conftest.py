"""Nothing downloads at test time: hubs are offline before any test module imports timm."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TQDM_DISABLE", "1")
