"""Layer 3, models on the customer tables: RFM segments and tags (:mod:`.segments`), behavioural
clusters (:mod:`.clustering`), repurchase classifiers (:mod:`.prediction`), survival churn
(:mod:`.survival`), buy-till-you-die fitters (:mod:`.btyd`) and CLV tables (:mod:`.clv`)."""
