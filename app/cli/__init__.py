"""``forecast``: the command-line client of the service, over its public HTTP API only.

It imports nothing else from ``app`` (a contract in pyproject.toml keeps it so): it is a
client like any other, and starts in a fraction of a second because it never loads the
service's numeric stack.

Modules: ``client`` (HTTP calls; failures become the exit codes in ``EXIT_CODES``, shown by
``forecast --help``), ``output`` (tables, CSV, JSON), ``commands`` (the commands).
"""
