"""retention_utils: the package behind the notebooks of this repository.

Data flows one way: load (``data.datasets``) -> validate/clean (``schema``, ``data.cleaning``) ->
transaction tables (``tables``) -> models (``models``, ``recommend``) -> reports (``reports``).
"""

__version__ = "0.1.0"
