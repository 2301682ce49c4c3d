"""The catalog of device kinds: device-kinds/<name>.yaml, one file per kind, read by every part of the pipeline."""

from catalog.loader import Catalog, CatalogError, default_folder, load_catalog, load_kind, parse_kind
from catalog.schema import SENSOR_ID_TAG, DeviceKind

__all__ = [
    "SENSOR_ID_TAG",
    "Catalog",
    "CatalogError",
    "DeviceKind",
    "default_folder",
    "load_catalog",
    "load_kind",
    "parse_kind",
]
