"""Scoring SCANNER: entity and GMNER metrics (``metrics``), the two-stage system and its tuned thresholds
on labelled splits (``two_stage``), and the noisy-label audit (``audit``)."""
