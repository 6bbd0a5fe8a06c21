"""tinypdm host side: serial protocol, virtual sensors, capture, simulator, datasets,
features, the autoencoder detector, model directories, the gateway and the score stores.

Importing ``vibration`` loads numpy only. scikit-learn and TensorFlow load when a detector
is fitted or loaded (:class:`AutoencoderDetector` is imported lazily from
``vibration.learning.detector``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vibration.acquisition.serial_link import PtyLink, open_port
from vibration.acquisition.virtual_sensor import (
    RunOptions,
    SimulatedSource,
    VirtualSensor,
    VirtualSensorConfig,
    run_on_pty,
)
from vibration.data.bearing import BearingGeometry
from vibration.data.dataset import (
    Recording,
    RecordingMeta,
    RecordingWriter,
    dataset_info,
    iter_recordings,
    list_recordings,
    open_recording,
    quantize,
    write_recording,
)
from vibration.data.importers import ImportedSignal, import_files, read_signal
from vibration.data.simulator import BearingSimulator, SimulatorConfig, simulate_recording
from vibration.errors import (
    DatasetError,
    ModelError,
    ProtocolError,
    StoreError,
    StoreUnavailable,
    TinyPdmError,
)
from vibration.learning.features import (
    FeatureConfig,
    extract_features,
    frame_windows,
    window_features,
)
from vibration.learning.model_dir import TrainedModel, load_model_dir, save_model_dir
from vibration.learning.speed import SpeedConfig, window_speeds
from vibration.learning.thresholds import (
    AlarmLifecycle,
    AlarmPolicy,
    alarm_lifecycle,
    apply_alarm_policy,
)
from vibration.protocol import (
    AsciiDecoder,
    DecoderStats,
    Frame,
    FrameDecoder,
    FrameType,
    Hello,
    Samples,
    Score,
    StreamDecoder,
    Text,
    decode_frame,
    encode_frame,
)
from vibration.telemetry.devtime import ClockConfig, ClockMapper
from vibration.telemetry.stores import Event, ScorePoint, SensorStatus, Store, open_store

if TYPE_CHECKING:
    from vibration.learning.detector import AutoencoderDetector

__all__ = [
    "AlarmLifecycle",
    "AlarmPolicy",
    "AsciiDecoder",
    "AutoencoderDetector",
    "BearingGeometry",
    "BearingSimulator",
    "ClockConfig",
    "ClockMapper",
    "DatasetError",
    "DecoderStats",
    "Event",
    "FeatureConfig",
    "Frame",
    "FrameDecoder",
    "FrameType",
    "Hello",
    "ImportedSignal",
    "ModelError",
    "ProtocolError",
    "PtyLink",
    "Recording",
    "RecordingMeta",
    "RecordingWriter",
    "RunOptions",
    "Samples",
    "Score",
    "ScorePoint",
    "SensorStatus",
    "SimulatedSource",
    "SimulatorConfig",
    "SpeedConfig",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "StreamDecoder",
    "Text",
    "TinyPdmError",
    "TrainedModel",
    "VirtualSensor",
    "VirtualSensorConfig",
    "alarm_lifecycle",
    "apply_alarm_policy",
    "dataset_info",
    "decode_frame",
    "encode_frame",
    "extract_features",
    "frame_windows",
    "import_files",
    "iter_recordings",
    "list_recordings",
    "load_model_dir",
    "open_port",
    "open_recording",
    "open_store",
    "quantize",
    "read_signal",
    "run_on_pty",
    "save_model_dir",
    "simulate_recording",
    "window_features",
    "window_speeds",
    "write_recording",
]


def __getattr__(name: str) -> Any:
    # The detector subclasses scikit-learn's BaseEstimator: load it on first use only.
    if name == "AutoencoderDetector":
        from vibration.learning.detector import AutoencoderDetector

        return AutoencoderDetector
    raise AttributeError(f"module 'vibration' has no attribute {name!r}")
