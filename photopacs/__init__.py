"""Composition layer: the `photopacs` command line and `serve`, the only code
that imports every package."""

__all__: list[str] = []
