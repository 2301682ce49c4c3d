"""What a device kind file (device-kinds/<name>.yaml) may say: one pydantic model per section.

Every model forbids unknown keys, so a misspelt key is an error naming the file and the key, never silently
ignored. Optional sections default to None: a new section is one more optional field on `DeviceKind`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from catalog.generators import GeneratorSpec
from catalog.units import is_known, unknown_unit_hint

# Kind names become CloudFormation logical ids (PressureTopic), rule names and file names.
KIND_NAME = r"^[a-z][a-z0-9_]{0,39}$"
# Measurement, field and tag keys go into InfluxQL and line protocol unescaped: keep them plain.
POINT_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
# The tag every point gets from the sensor id; metadata tags (manufacturer, family, ...) come from DynamoDB.
SENSOR_ID_TAG = "sensorID"

Name = Annotated[str, Field(pattern=POINT_NAME)]
Attribute = Annotated[str, Field(min_length=1, max_length=128)]
Minutes = Annotated[int, Field(ge=1, le=7 * 24 * 60)]


class Section(BaseModel):
    """Base of every section: unknown keys are errors, values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldType(StrEnum):
    """How the function checks a field's value before it becomes a float field of the point."""

    NUMBER = "number"  # any finite number (or its text)
    NON_NEGATIVE_INTEGER = "non_negative_integer"  # 0, 1, 2, ... (counts)


class Range(Section):
    """The values a healthy device reports: the dashboards' scale. Readings outside it are still written."""

    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        return self


class Alert(Section):
    """Alert when the field stays above and/or below a value for `for_minutes` minutes."""

    above: float | None = None
    below: float | None = None
    for_minutes: Minutes

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        if self.above is None and self.below is None:
            raise ValueError("give 'above', 'below' or both")
        if self.above is not None and self.below is not None and self.below >= self.above:
            raise ValueError(
                f"below ({self.below}) must be less than above ({self.above}), or nothing is normal"
            )
        return self


class PointField(Section):
    """One field of the point, read from one attribute of the payload."""

    attribute: Attribute  # the payload's attribute
    type: FieldType = FieldType.NUMBER
    unit: str = Field(min_length=1, max_length=64)  # a Grafana unit id ("pressurehpa", "short", "suffix: cP")
    label: str = Field(min_length=1, max_length=64)  # how people call it ("Pressure")
    range: Range | None = None
    alert: Alert | None = None

    @field_validator("unit")
    @classmethod
    def _known_unit(cls, unit: str) -> str:
        """Only units the dashboards and pictures can write out (catalog/units.py): a guessed id would show raw."""
        if not is_known(unit):
            raise ValueError(unknown_unit_hint(unit))
        return unit


class Sink(StrEnum):
    """Where the readings of a kind are written (docs/sql-sink.md says when to use which)."""

    INFLUXDB = "influxdb"  # the time-series store: dashboards, alerts, downsampling
    SQL = "sql"  # the relational `events` table: analysts' SQL and BI tools, hourly charts


class Tag(Section):
    """A tag of the point taken from the payload (a non-empty string)."""

    attribute: Attribute


class Aggregate(StrEnum):
    MEAN = "mean"
    MIN = "min"
    MAX = "max"
    SUM = "sum"
    COUNT = "count"
    LAST = "last"


class Downsampling(Section):
    """Which fields the continuous queries keep, aggregated per minute (rp_1m) and per hour (rp_1h).

    The mean keeps the field's own name (dashboards read it like the raw field); another aggregate is written
    as `<field>_<aggregate>`.
    """

    fields: tuple[Name, ...] = Field(min_length=1)
    aggregates: tuple[Aggregate, ...] = Field(default=(Aggregate.MEAN,), min_length=1)

    @staticmethod
    def column(field: str, aggregate: Aggregate) -> str:
        return field if aggregate is Aggregate.MEAN else f"{field}_{aggregate.value}"


class Simulator(Section):
    """The simulated device: a generator per payload attribute (see docs/simulator.md)."""

    attributes: dict[Attribute, GeneratorSpec] = Field(min_length=1)


class PanelShow(StrEnum):
    """What a panel draws from its field."""

    MEAN_PER_SENSOR = "mean_per_sensor"  # time series: the mean of each sensor per interval
    CURRENT_PER_SENSOR = "current_per_sensor"  # gauge: each sensor's latest value, on the field's range
    HOURLY_MEAN_PER_SENSOR = "hourly_mean_per_sensor"  # time series over 7 days from the 1-hour means
    LATEST_PER_TAG = "latest_per_tag"  # time series: each sensor's latest value, summed per `group_by` tag
    INCREASE_PER_TAG = "increase_per_tag"  # bars: a counter's increase per interval, summed per tag
    INCREASE_IN_RANGE = "increase_in_range"  # bar gauge: a counter's increase over the time range, per tag
    INCREASE_PER_SENSOR_PER_HOUR = (
        "increase_per_sensor_per_hour"  # bars: a counter's increase per hour, per sensor
    )


class Threshold(Section):
    """A colour band of a gauge, from `from` upwards (the first band has no `from`)."""

    from_: float | None = Field(default=None, alias="from")
    color: str = Field(min_length=1, max_length=32)


class Panel(Section):
    field: Name
    show: PanelShow
    title: str | None = None  # default: "<label> per sensor" and the like
    description: str | None = None
    width: int = Field(default=12, ge=1, le=24)  # panels flow left to right on Grafana's 24-column grid
    height: int = Field(default=8, ge=2, le=40)
    thresholds: tuple[Threshold, ...] = ()


class Filter(StrEnum):
    """A dashboard variable: by a metadata tag of the device, or by sensor."""

    MANUFACTURER = "manufacturer"
    FAMILY = "family"
    SENSOR = "sensor"


class GroupBy(Section):
    """A tag of the kind the dashboard filters on (its own variable) and sums the *_per_tag panels by."""

    tag: Name
    variable: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")  # the Grafana variable's name ("product")
    label: str = Field(min_length=1, max_length=64)  # how the variable and the titles call it ("Product")


class Dashboard(Section):
    uid: str = Field(pattern=r"^[a-z0-9-]{1,40}$")
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    filters: tuple[Filter, ...] = ()  # metadata variables, in this order
    group_by: GroupBy | None = None
    panels: tuple[Panel, ...] = Field(min_length=1)


class Decode(StrEnum):
    """How a resource's value (the text its payload holds) is read."""

    INTEGER = "integer"  # whole numbers only ("12")
    FLOAT = "float"  # any finite number ("21.5")
    TEXT = "text"  # the text itself (tags only)


# An LwM2M resource path: /<object>/<instance>/<resource>, as the device-management service names it.
LWM2M_PATH = r"^/\d{1,5}/\d{1,5}/\d{1,5}$"
Lwm2mPath = Annotated[str, Field(pattern=LWM2M_PATH)]


class Lwm2mResource(Section):
    """One LwM2M resource: the field or tag of the kind its value becomes, and how its payload is decoded."""

    field: Name | None = None
    tag: Name | None = None
    decode: Decode
    # A CloudWatch metric (embedded metric format) counting this resource's notifications per endpoint.
    metric: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9]{0,63}$")

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if (self.field is None) == (self.tag is None):
            raise ValueError("give exactly one of 'field' or 'tag'")
        if self.field is not None and self.decode is Decode.TEXT:
            raise ValueError(f"field {self.field!r} is a number: decode it as integer or float, not text")
        return self


class Lwm2m(Section):
    """How readings of this kind arrive from an LwM2M device-management service (Pelion, Izuma) by webhook.

    The endpoint name is the sensor id. Every field and tag of the kind must come from one resource, so a
    delivery holding them all makes a complete reading; resources of other paths are counted and ignored.
    """

    resources: dict[Lwm2mPath, Lwm2mResource] = Field(min_length=1)


class DeviceKind(Section):
    """One kind of device: everything the pipeline needs to know about it, in one file."""

    name: str = Field(pattern=KIND_NAME)
    description: str = Field(min_length=1)
    topic: str = Field(
        pattern=r"^[^#+\s][^#+]{0,255}$"
    )  # the default MQTT topic; the stack's parameter may change it
    measurement: Name
    sensor_id: tuple[Attribute, ...] = Field(min_length=1)  # attributes joined with "-" into the sensorID tag
    fields: dict[Name, PointField] = Field(min_length=1)
    tags: dict[Name, Tag] = Field(default_factory=dict)
    silent_after_minutes: Minutes | None = (
        None  # a device that sends nothing for this long is reported silent
    )
    downsampling: Downsampling | None = None
    simulator: Simulator | None = None
    dashboard: Dashboard | None = None
    lwm2m: Lwm2m | None = None
    # Every sink must hold a reading before it counts as written; InfluxDB alone unless the kind says otherwise.
    sinks: tuple[Sink, ...] = Field(default=(Sink.INFLUXDB,), min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if len(set(self.sinks)) != len(self.sinks):
            raise ValueError("sinks: name each sink once")
        if Sink.INFLUXDB not in self.sinks:
            needs_influxdb = [
                section
                for section, given in (
                    ("dashboard", self.dashboard is not None),
                    ("downsampling", self.downsampling is not None),
                    ("alert", any(field.alert is not None for field in self.fields.values())),
                )
                if given
            ]
            if needs_influxdb:
                raise ValueError(
                    f"{', '.join(needs_influxdb)} read InfluxDB: add influxdb to sinks or remove them"
                )
        clashes = (set(self.fields) & set(self.tags)) | (
            {SENSOR_ID_TAG} & (set(self.fields) | set(self.tags))
        )
        if clashes:
            raise ValueError(
                f"{', '.join(sorted(clashes))}: a field and a tag (or the sensorID tag) share a name"
            )
        if self.downsampling is not None:
            unknown = [f for f in self.downsampling.fields if f not in self.fields]
            if unknown:
                raise ValueError(f"downsampling names fields the kind does not have: {', '.join(unknown)}")
        if self.dashboard is not None:
            self._check_dashboard(self.dashboard)
        if self.lwm2m is not None:
            self._check_lwm2m(self.lwm2m)
        return self

    def _check_lwm2m(self, lwm2m: Lwm2m) -> None:
        sources: dict[str, str] = {}  # field or tag -> the resource path it comes from
        for path, resource in lwm2m.resources.items():
            where = f"lwm2m.resources.{path}"
            if resource.field is not None:
                name = resource.field
                if name not in self.fields:
                    raise ValueError(f"{where}: {name!r} is not one of the kind's fields")
                counts = self.fields[name].type is FieldType.NON_NEGATIVE_INTEGER
                if counts and resource.decode is not Decode.INTEGER:
                    raise ValueError(
                        f"{where}: field {name!r} is a non_negative_integer: decode it as integer"
                    )
            else:
                name = str(resource.tag)
                if name not in self.tags:
                    raise ValueError(f"{where}: {name!r} is not one of the kind's tags")
            if name in sources:
                raise ValueError(f"{where}: {name!r} already comes from {sources[name]}")
            sources[name] = path
        unmapped = [name for name in (*self.fields, *self.tags) if name not in sources]
        if unmapped:
            raise ValueError(
                f"lwm2m: no resource gives {', '.join(unmapped)}; every field and tag needs one, "
                "or no reading of the kind is complete"
            )

    def _check_dashboard(self, board: Dashboard) -> None:
        if board.group_by is not None and board.group_by.tag not in self.tags:
            raise ValueError(f"dashboard.group_by.tag: {board.group_by.tag!r} is not one of the kind's tags")
        hourly = set(self.downsampling.fields) if self.downsampling else set()
        for number, panel in enumerate(board.panels, 1):
            where = f"dashboard.panels[{number}]"
            if panel.field not in self.fields:
                raise ValueError(f"{where}: {panel.field!r} is not one of the kind's fields")
            by_tag = panel.show.value.endswith("_per_tag") or panel.show is PanelShow.INCREASE_IN_RANGE
            if by_tag and board.group_by is None:
                raise ValueError(f"{where}: {panel.show.value} needs dashboard.group_by (a tag)")
            if panel.show is PanelShow.CURRENT_PER_SENSOR and self.fields[panel.field].range is None:
                raise ValueError(
                    f"{where}: a current_per_sensor gauge needs a range on field {panel.field!r}"
                )
            if panel.show is PanelShow.HOURLY_MEAN_PER_SENSOR and panel.field not in hourly:
                raise ValueError(f"{where}: hourly means of {panel.field!r} need it in downsampling.fields")

    @property
    def topic_parameter(self) -> str:
        """The ingest stack's parameter holding this kind's topic (PressureTopic, ColdRoomTopic)."""
        return "".join(part.capitalize() for part in self.name.split("_")) + "Topic"

    @property
    def basic_ingest_parameter(self) -> str:
        """The ingest stack's parameter turning Basic Ingest on for this kind (PressureBasicIngest)."""
        return self.topic_parameter.removesuffix("Topic") + "BasicIngest"

    @property
    def point_names(self) -> frozenset[str]:
        """Keys the reading itself sets in the point: metadata may never use them."""
        return frozenset({SENSOR_ID_TAG, *self.fields, *self.tags})
