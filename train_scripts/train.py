"""Train SCANNER from a recipe config.

    accelerate launch train_scripts/train.py --config train_scripts/configs/twitter2017-cpu-demo.yaml
    python train_scripts/train.py --config ... --set stage2.num_train_epochs=1

The recipe trains the stage-1 detector, the cross-fold non-entity candidates and the stage-2
recogniser (teachers first when Trust Your Teacher is on), saves the composite checkpoint, and prints
the test scores (also written under the run's output_dir). Same as ``scanner-ner train``.
"""

from __future__ import annotations

import sys

from scanner_hf.cli import main

if __name__ == "__main__":
    main(["train", *sys.argv[1:]])
