"""Old import path of the BitOPs accounting, which lives in `gaitcompress.quant.cost` (export reads quant, never
the other way round)."""

from gaitcompress.quant.cost import (  # noqa: F401
    COUNTED,
    BitopsReport,
    LayerBitops,
    bitops_columns,
    bitops_report,
    layer_bits,
)
