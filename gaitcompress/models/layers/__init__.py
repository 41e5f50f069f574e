"""Building blocks shared by gait model families, one concept per file."""

from gaitcompress.models.layers.add import Add
from gaitcompress.models.layers.bnneck import BNNeck
from gaitcompress.models.layers.horizontal_pool import HorizontalPool
from gaitcompress.models.layers.separate_fcs import SeparateFCs
from gaitcompress.models.layers.set_block import SetBlock
from gaitcompress.models.layers.temporal_pool import TemporalMaxPool

__all__ = ["Add", "BNNeck", "HorizontalPool", "SeparateFCs", "SetBlock", "TemporalMaxPool"]
