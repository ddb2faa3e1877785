"""AirDig UI: a static single-page app plus a reverse proxy to the engine (``airdig ui``, :3000)."""
