import numpy as np
import torch

from gaitcompress.data.batch import Batch, SeqMeta, collate


def test_collate_pads_and_records_lengths():
    a = np.ones((3, 4, 2), np.float32)
    b = np.full((5, 4, 2), 0.5, np.float32)
    batch = collate([(a, 1, SeqMeta("001", "nm-01", "000")), (b, -1, SeqMeta("002", "bg-01", "090"))])
    assert isinstance(batch, Batch)
    assert batch.sils.shape == (2, 5, 4, 2) and batch.sils.dtype == torch.float32
    assert batch.lengths.tolist() == [3, 5]
    assert batch.labels.tolist() == [1, -1] and batch.labels.dtype == torch.long
    assert batch.sils[0, 3:].abs().sum() == 0 and batch.sils[0, :3].min() == 1
    assert batch.meta[1] == SeqMeta("002", "bg-01", "090")
    moved = batch.to("cpu")
    assert moved.sils.device.type == "cpu" and len(moved) == 2
