"""Builders of the Lakeview dashboard format (``.lvdash.json``): datasets, pages and widgets.

The shapes follow dashboards exported from a workspace (databricks/bundle-examples): a dataset
is ``{name, displayName, queryLines}``; a widget has one ``main_query`` over a dataset, whose
``fields`` are ``{name, expression}`` pairs the widget's ``spec.encodings`` refer to by name;
Lakeview aggregates the fields itself unless the query is ``disaggregated``. Positions are on a
grid six columns wide. Nothing here was loaded by a workspace (docs/databricks.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from health_monitor.errors import SchemaError

GRID_WIDTH = 6
# Widget spec versions as exported by a workspace in 2025 (bundle-examples' dashboards).
VERSIONS = {"counter": 2, "bar": 3, "line": 3, "table": 1}
_AGGREGATES = ("SUM", "AVG", "COUNT", "MAX", "MIN")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def column(name: str, what: str) -> str:
    """``name`` as a backquoted identifier; a name that is not a plain identifier is refused,
    naming ``what`` (the model or table it comes from)."""
    if not isinstance(name, str) or not _COLUMN.match(name):
        raise SchemaError(f"{what}: column {name!r} is not a plain identifier; a dashboard cannot quote it")
    return f"`{name}`"


@dataclass(frozen=True)
class Field:
    """A field of a widget's query: a dataset column, an aggregate of one (``SUM``, ``AVG``,
    ``COUNT``, ``MAX``, ``MIN``) or its day (``day``)."""

    column: str
    aggregate: str | None = None
    day: bool = False

    def __post_init__(self) -> None:
        if self.aggregate is not None and self.aggregate not in _AGGREGATES:
            raise SchemaError(
                f"field {self.column}: aggregate must be one of {_AGGREGATES}, got {self.aggregate!r}"
            )

    @property
    def name(self) -> str:
        if self.aggregate:
            return f"{self.aggregate.lower()}({self.column})"
        return f"daily({self.column})" if self.day else self.column

    @property
    def expression(self) -> str:
        quoted = column(self.column, "widget field")
        if self.aggregate:
            return f"{self.aggregate}({quoted})"
        return f'DATE_TRUNC("DAY", {quoted})' if self.day else quoted

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "expression": self.expression}


@dataclass
class Dashboard:
    """A dashboard being built: datasets by name, pages in order, each page a list of layout items."""

    datasets: list[dict[str, Any]] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)

    def dataset(self, name: str, display_name: str, sql: str) -> str:
        if any(d["name"] == name for d in self.datasets):
            raise SchemaError(f"dataset {name!r} is defined twice")
        lines = sql.strip().splitlines()
        query_lines = [line + "\n" for line in lines[:-1]] + lines[-1:]
        self.datasets.append({"name": name, "displayName": display_name, "queryLines": query_lines})
        return name

    def page(self, name: str, display_name: str) -> Page:
        page = Page(name, display_name)
        self.pages.append(page)
        return page

    def as_dict(self) -> dict[str, Any]:
        return {
            "datasets": self.datasets,
            "pages": [p.as_dict() for p in self.pages],
        }


@dataclass
class Page:
    """A canvas page; widgets are placed row by row on the six-column grid."""

    name: str
    display_name: str
    layout: list[dict[str, Any]] = field(default_factory=list)
    _x: int = 0
    _y: int = 0
    _row_height: int = 0

    def place(self, widget: dict[str, Any], width: int, height: int) -> None:
        if not 1 <= width <= GRID_WIDTH:
            raise SchemaError(f"widget {widget['name']}: width must be 1..{GRID_WIDTH}, got {width}")
        if self._x + width > GRID_WIDTH:
            self._x, self._y, self._row_height = 0, self._y + self._row_height, 0
        position = {"x": self._x, "y": self._y, "width": width, "height": height}
        self.layout.append({"widget": widget, "position": position})
        self._x += width
        self._row_height = max(self._row_height, height)

    def text(self, name: str, lines: list[str]) -> None:
        self.place({"name": name, "multilineTextboxSpec": {"lines": lines}}, GRID_WIDTH, 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "displayName": self.display_name,
            "pageType": "PAGE_TYPE_CANVAS",
            "layout": self.layout,
        }


def _query(dataset: str, fields: list[Field], disaggregated: bool) -> list[dict[str, Any]]:
    return [
        {
            "name": "main_query",
            "query": {
                "datasetName": dataset,
                "fields": [f.as_dict() for f in fields],
                "disaggregated": disaggregated,
            },
        }
    ]


def _frame(title: str, description: str = "") -> dict[str, Any]:
    frame: dict[str, Any] = {"showTitle": True, "title": title}
    if description:
        frame.update(showDescription=True, description=description)
    return frame


def counter(name: str, dataset: str, value: Field, title: str, description: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "queries": _query(dataset, [value], disaggregated=False),
        "spec": {
            "version": VERSIONS["counter"],
            "widgetType": "counter",
            "encodings": {"value": {"fieldName": value.name, "displayName": title}},
            "frame": _frame(title, description),
        },
    }


def chart(
    kind: str,
    name: str,
    dataset: str,
    x: Field,
    y: Field,
    title: str,
    color: Field | None = None,
    description: str = "",
    x_title: str = "",
    y_title: str = "",
) -> dict[str, Any]:
    """A ``bar`` or ``line`` chart of ``y`` over ``x``, one series per ``color`` value."""
    if kind not in ("bar", "line"):
        raise SchemaError(f"chart kind must be bar or line, got {kind!r}")
    encodings: dict[str, Any] = {
        "x": {
            "fieldName": x.name,
            "displayName": x_title or x.column,
            "scale": {"type": "temporal" if x.day else "categorical"},
        },
        "y": {"fieldName": y.name, "displayName": y_title or y.name, "scale": {"type": "quantitative"}},
    }
    fields = [x, y]
    if color is not None:
        encodings["color"] = {
            "fieldName": color.name,
            "displayName": color.column,
            "scale": {"type": "categorical"},
        }
        fields.append(color)
    return {
        "name": name,
        "queries": _query(dataset, fields, disaggregated=False),
        "spec": {
            "version": VERSIONS[kind],
            "widgetType": kind,
            "encodings": encodings,
            "frame": _frame(title, description),
        },
    }


def table(
    name: str, dataset: str, columns: list[tuple[str, str]], title: str, description: str = ""
) -> dict[str, Any]:
    """The dataset's rows as they come (its ORDER BY), ``columns`` as (column, title) pairs."""
    fields = [Field(c) for c, _ in columns]
    return {
        "name": name,
        "queries": _query(dataset, fields, disaggregated=True),
        "spec": {
            "version": VERSIONS["table"],
            "widgetType": "table",
            "encodings": {
                "columns": [
                    {"fieldName": c, "displayName": t, "title": t, "order": i, "visible": True}
                    for i, (c, t) in enumerate(columns)
                ]
            },
            "frame": _frame(title, description),
        },
    }
