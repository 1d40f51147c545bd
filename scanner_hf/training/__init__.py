"""Training SCANNER (beside the checkpoint's own code, which imports none of it): :class:`ScannerTrainer`
(``trainer``), its arguments (``arguments``), each stage's fitting (``stages``), Trust Your Teacher and
AWP (``distillation``, ``distillation_trainer``), stage 2's candidates and prompts (``candidates``,
``stage2_data``), YAML recipes (``recipe``) and model cards (``model_card``)."""
