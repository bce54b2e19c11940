"""retention_utils: the package behind the notebooks of this repository.

Data flows one way: load (``datasets``) -> validate/clean (``schema``, ``cleaning``) ->
summary tables (``summary``, ``cohorts``) -> models -> reports (``reports``).
"""

__version__ = "0.1.0"
