"""The `photopacs` subcommands, one module per area; :mod:`photopacs.cli`
registers them on the `main` group."""
