"""Layer 2, transaction tables: one row per customer (or cohort, order, period) computed from the clean
log: customer summaries in the segmentation and BTYD conventions and calibration/holdout splits
(:mod:`.summary`), cohort retention (:mod:`.cohorts`), EDA tables (:mod:`.eda`). No model is fitted here."""
