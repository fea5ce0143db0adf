"""SEE (Bartz, Yang, Meinel 2017), trained on generated images: data.py, losses.py, train.py, evaluate.py.
The network is transmodal.nets.see; the TextDetector's `see` backend loads the shipped checkpoint."""
