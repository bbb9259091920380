"""Operations: probes, metrics, request context and access logs, API keys. They sit on top of
the domain packages and are handed what they need by :mod:`app.main`."""
