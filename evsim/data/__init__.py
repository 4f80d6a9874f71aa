"""Input data: event files and datasets -> the model's input on its time grid.

    ev = evsim.data.read_events("rec.aedat4")      # tonic-style structured array x, y, t, p (+ .sensor_size)
    ds = evsim.data.open("shd_test.h5")            # labelled samples: len(ds), for ev, label in ds, ds.labels
    pipe = evsim.data.InputPipeline(rule="spikingjelly", time_step=1e-2, n_bins=5)
    stream, T = evsim.data.to_stream(ev, pipe, dt=net.dt)  # an EventStream of (frame, flat index, count)
    res = evsim.data.run_dataset(net, ds, pipe)    # a whole dataset, streamed in batches

Modules: ``events`` (the one event type), ``readers`` (AEDAT4, Prophesee EVT2/EVT3/DAT, NumPy), ``shd`` (SHD/SSC
HDF5, reader and writer), ``dataset`` (`open`, `from_tonic`), ``binning`` (the named binning rules),
``encode`` (rate, latency, direct current for static data), ``runner`` (whole datasets).
"""

from . import encode
from .binning import RULES, InputPipeline, raster, to_stream
from .dataset import from_tonic, open
from .events import EventArray, as_events, flat_index
from .readers import detect_format, read_events
from ..parallel import DatasetRun as DatasetResult  # the one result type of dataset runs
from .runner import materialise, pipeline_for, run_dataset
from .shd import SHDFile, write_shd

__all__ = [
    "read_events",
    "open",
    "from_tonic",
    "EventArray",
    "as_events",
    "flat_index",
    "detect_format",
    "InputPipeline",
    "RULES",
    "to_stream",
    "raster",
    "run_dataset",
    "DatasetResult",
    "materialise",
    "pipeline_for",
    "SHDFile",
    "write_shd",
    "encode",
]
