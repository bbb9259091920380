"""``forecast``: the command-line client of the service, over its public HTTP API only.

It imports nothing else from ``app`` (a contract in pyproject.toml keeps it so): it is a
client like any other, and starts in a fraction of a second because it never loads the
service's numeric stack.

Modules: ``commands`` (the root command, its global options, every command registered),
``client`` (HTTP calls, retries within a deadline), ``problems`` (exit codes, problem
documents on stderr), ``options`` and ``output`` (shared options; tables, CSV, JSON, pages),
``follow`` (progress bars while waiting), and one module of commands per topic:
``series_commands``, ``job_commands``, ``forecast_commands``, ``collection_commands``,
``batch_commands``, ``model_commands``, ``ledger_commands``. docs/cli.md is the reference.
"""
