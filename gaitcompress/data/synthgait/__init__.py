"""SynthGait: a procedural, license-free silhouette gait dataset written in the OpenGait layout (DESIGN.md §4)."""

from gaitcompress.data.synthgait.config import SynthConfig

__all__ = ["SynthConfig"]
