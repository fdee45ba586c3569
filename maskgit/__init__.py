"""MaskGIT for 64x64 inpainting: tokenizer, transformer, schedules and iterative decoding."""
from .errors import CheckpointError, MaskGITError
from .pipeline import FILLS, InpaintStep, MaskGIT, encoder_view, load, load_transformer, load_vqgan
from .schedules import SCHEDULES, get_schedule
from .transformer import BidirectionalTransformer, TransformerConfig
from .tokenizer import FSQAutoencoder, TokenizerConfig

__all__ = ["CheckpointError", "MaskGITError", "FILLS", "InpaintStep", "MaskGIT", "encoder_view", "load",
           "load_transformer", "load_vqgan", "SCHEDULES", "get_schedule", "BidirectionalTransformer",
           "TransformerConfig", "FSQAutoencoder", "TokenizerConfig"]
