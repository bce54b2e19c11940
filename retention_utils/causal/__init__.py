"""Campaign and coupon effects: did a campaign change what households bought, and for whom.

Households were chosen for campaigns, not randomised, so the package separates what it writes by hand,
the **data preparation**, from the estimators, which are thin wrappers over well-kept libraries:

=================  ==============================================================================
module             what it holds
=================  ==============================================================================
``panel``          campaign tables and windows, the household-week panel, the cross-section of
                   (household, campaign) rows with pre-period confounders and window outcomes,
                   the first-contact cohorts of the staggered design, coupon redemption
``estimate``       naive difference (scipy), regression adjustment (statsmodels, Lin 2013), overlap
                   diagnostics and trimming (scikit-learn), AIPW (econml ``LinearDRLearner``),
                   Callaway-Sant'Anna staggered DiD and event study (``differences.ATTgt``)
``uplift``         per-household effects (econml ``ForestDRLearner``), doubly robust scores on
                   held-out households (econml ``DRTester``), Qini curve and area, incremental spend
                   of a targeting rule at a budget (written here and tested by hand)
``export``         the pseudonymised per-household effect table for the retention playbook
=================  ==============================================================================

Notebook ``09_campaign_effect`` calls these in order; the assumptions each estimate rests on are
written in the notebook next to the numbers.
"""

from .panel import NoCampaignDataError

__all__ = ["NoCampaignDataError"]
