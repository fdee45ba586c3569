"""Training loops for the two stages; `train.py` is the command line in front of them."""
