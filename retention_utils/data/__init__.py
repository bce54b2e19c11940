"""Layer 1, load and clean: dataset configs and loaders (:mod:`.datasets`), the stated cleaning rules
with their reconciled report (:mod:`.cleaning`). Raw files are read, never written."""
