"""The catalog's `lwm2m` sections as the one mapping the webhook function reads (its LWM2M_MAPPING)."""

from __future__ import annotations

import json

from catalog.loader import Catalog


def webhook_mapping(catalog: Catalog) -> dict[str, dict[str, str]]:
    """{resource path: {kind, topic, attribute, decode[, metric]}} over every kind that has an lwm2m section."""
    mapping: dict[str, dict[str, str]] = {}
    for kind in catalog:
        if kind.lwm2m is None:
            continue
        for path, resource in kind.lwm2m.resources.items():
            if resource.field is not None:
                attribute = kind.fields[resource.field].attribute
            else:
                attribute = kind.tags[str(resource.tag)].attribute
            entry = {
                "kind": kind.name,
                "topic": kind.topic,
                "attribute": attribute,
                "decode": resource.decode.value,
            }
            if resource.metric:
                entry["metric"] = resource.metric
            mapping[path] = entry
    return mapping


def webhook_mapping_json(catalog: Catalog) -> str:
    return json.dumps(webhook_mapping(catalog), sort_keys=True, separators=(",", ":"))


def resource_paths(catalog: Catalog) -> list[str]:
    """Every resource a device-management service must be asked to notify (subscriptions)."""
    return sorted(webhook_mapping(catalog))
