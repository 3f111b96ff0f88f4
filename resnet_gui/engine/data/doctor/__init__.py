"""The dataset check (`resnet-gui doctor`) and the fixes it leads to, with undo (torch only where it must).

`hashing` (content and perceptual hashes), `checks` (file checks, imbalance), `features` (what the quick
model sees), `confident` (confident learning, cleanlab's definition), `crossval` (out-of-sample
probabilities), `report` (`check_dataset`), `journal` (relabel / remove / keep / add, undo and redo).
"""
