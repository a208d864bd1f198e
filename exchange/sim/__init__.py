"""The embedded Bybit V5 venue: a pure matching engine (``engine``) and the server shell around it."""
