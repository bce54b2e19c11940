"""The retention playbook: who to contact in each retention scenario, why, with what, and what it
is worth, checked against what happened.

Layer: reads the models (:mod:`retention_utils.models`, :mod:`retention_utils.recommend`) and writes
decisions; nothing below imports from here.

* :mod:`.scenarios` - the rules, their priority order, ranks and budgets (hand-checkable);
* :mod:`.signals` - what the models of notebooks 02, 04, 05 and 06 say at an as-of date;
* :mod:`.welcome` - the second-order model of new customers;
* :mod:`.seasonal` - weekly department revenue, forecasts and MASE, rising departments, affinity;
* :mod:`.reasons` - reasons in readable words from each model's drivers;
* :mod:`.recommendations` - products per scenario from the package's recommenders;
* :mod:`.backtest` - value captured against random, RFM and recency lists, gains, came back anyway;
* :mod:`.exports` - documented CSV/Parquet exports with pseudonyms, the campaign-effect hook;
* :mod:`.playbook` - the whole thing at an as-of date.
"""
