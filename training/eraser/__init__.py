"""The learned eraser (issue 12), trained on generated pairs: data.py, train.py, evaluate.py. The networks
are transmodal.nets.text_segmenter and transmodal.nets.pconv; the TextEraser loads the shipped checkpoints."""
