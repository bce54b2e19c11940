"""The transaction-level tables on DuckDB and Spark (one definition, in Ibis), equal to the pandas path."""
