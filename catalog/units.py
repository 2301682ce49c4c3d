"""Units of the kinds' fields: the Grafana unit id a kind file names, and the unit as people write it.

A field's `unit` is a Grafana unit id, so Grafana formats the values itself ("12.5 L/min"); the pictures drawn
here (grafana/render.py) and the dashboards' texts need the same unit written out, so the table is declared once,
here, at the bottom of the layers. The ids and their texts are Grafana's own (packages/grafana-data/src/
valueFormats/categories.ts); only the units a device reading is likely to carry are listed. Any other unit is
written `suffix: <text>` (Grafana appends the text: "suffix: cP").
"""

from __future__ import annotations

import difflib

CUSTOM_PREFIXES = ("suffix:", "prefix:")  # Grafana's custom units: the text after the colon is the unit

# Grafana unit id -> the unit as written beside a number ("" for a plain count).
DISPLAY_UNITS: dict[str, str] = {
    # counts
    "none": "",
    "short": "",
    "percent": "%",
    "humidity": "%H",
    "ppm": "ppm",
    "dB": "dB",
    # temperature
    "celsius": "°C",
    "fahrenheit": "°F",
    "kelvin": "K",
    # pressure
    "pressurembar": "mbar",
    "pressurebar": "bar",
    "pressurepa": "Pa",
    "pressurehpa": "hPa",
    "pressurekpa": "kPa",
    "pressurepsi": "psi",
    # flow
    "flowlpm": "L/min",
    "flowmlpm": "mL/min",
    "litreh": "L/h",
    "flowgpm": "gpm",
    "flowcms": "m³/s",
    "flowcfm": "cfm",
    # volume, mass, length
    "litre": "L",
    "mlitre": "mL",
    "m3": "m³",
    "gallons": "gal",
    "massg": "g",
    "masskg": "kg",
    "masst": "t",
    "lengthmm": "mm",
    "lengthm": "m",
    "lengthkm": "km",
    # speed, rotation, acceleration
    "velocityms": "m/s",
    "velocitykmh": "km/h",
    "rotrpm": "rpm",
    "rothz": "Hz",
    "accMS2": "m/s²",
    "accG": "g",
    # electricity, energy, light
    "volt": "V",
    "mvolt": "mV",
    "amp": "A",
    "mamp": "mA",
    "watt": "W",
    "kwatt": "kW",
    "kwatth": "kWh",
    "hertz": "Hz",
    "lux": "lux",
    # time
    "ms": "ms",
    "s": "s",
}


def is_known(unit: str) -> bool:
    return unit in DISPLAY_UNITS or unit.startswith(CUSTOM_PREFIXES)


def display_unit(unit: str) -> str:
    """The unit as people write it: "flowlpm" -> "L/min", "suffix: cP" -> "cP"; an unknown id as it is."""
    for prefix in CUSTOM_PREFIXES:
        if unit.startswith(prefix):
            return unit.removeprefix(prefix).strip()
    return DISPLAY_UNITS.get(unit, unit)


def unknown_unit_hint(unit: str) -> str:
    """Why `unit` is refused and what to write instead, the nearest known ids first."""
    by_text = {text.lower(): unit_id for unit_id, text in DISPLAY_UNITS.items() if text}
    near = difflib.get_close_matches(unit, DISPLAY_UNITS, n=3, cutoff=0.6)
    near += [by_text[t] for t in difflib.get_close_matches(unit.lower(), by_text, n=2, cutoff=0.6)]
    suggestion = ", ".join(f"{i} ({DISPLAY_UNITS[i]})" for i in dict.fromkeys(near)) or "none close"
    return (
        f"{unit!r} is not a Grafana unit id the catalog knows (nearest: {suggestion}); the ids are listed in "
        "catalog/units.py, any other unit is written 'suffix: <unit>'"
    )
