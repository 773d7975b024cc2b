"""Plotly charts in French, the same way on every screen: French number separators, French date
labels on categorical axes (plotly's own date axis writes « Nov 11 »), no English toolbar, and the
legend and hover texts given by the caller rather than the data's column names."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from core import fmt

COLORS = {"Envoyés": "#00694B", "Remis": "#3C9D7A", "Lus": "#8CC9A8", "Répondus": "#F2A541", "Échecs": "#C8553D",
          "Traitées par l'assistant": "#00694B", "Transmises à un agent": "#F2A541"}


def bucket_label(moment: datetime, *, by_hour: bool) -> str:
    return fmt.hour(moment) if by_hour else fmt.day(moment)


def bars(x: list[str], series: dict[str, list[float]], *, title: str, x_title: str, y_title: str,
         percent: bool = False, stacked: bool = False, hover: list[str] | None = None) -> go.Figure:
    """Grouped (or stacked) bars on a categorical x axis: codes, names and dates stay labels, never
    numbers on a scale."""
    unit = f"{fmt.NNBSP}%" if percent else ""
    # Plotly draws a few HTML tags in its texts (<b>, <a href>…): a campaign named « <b>x</b> » is shown
    # as typed.
    x = [html.escape(str(v), quote=False) for v in x]
    hover = [html.escape(str(v), quote=False) for v in hover] if hover else None
    figure = go.Figure()
    for name, values in series.items():
        figure.add_bar(x=x, y=[v * 100 for v in values] if percent else values, name=name,
                       marker_color=COLORS.get(name), customdata=hover,
                       hovertemplate=f"%{{x}}<br>{name} : %{{y:,.{1 if percent else 0}f}}{unit}"
                                     + ("<br>%{customdata}" if hover else "") + "<extra></extra>")
    figure.update_layout(barmode="stack" if stacked else "group")
    return french(figure, title=title, x_title=x_title, y_title=y_title + (" (%)" if percent else ""))


def heatmap(x: list[str], y: list[str], z: list[list[float | None]], *, title: str, x_title: str,
            colorbar: str) -> go.Figure:
    figure = go.Figure(go.Heatmap(
        x=x, y=y, z=[[None if v is None else v * 100 for v in row] for row in z], colorscale="Greens", zmin=0, zmax=100,
        colorbar={"title": {"text": colorbar}, "ticksuffix": f"{fmt.NNBSP}%"}, hoverongaps=False,
        hovertemplate=f"%{{y}}, %{{x}} : %{{z:.0f}}{fmt.NNBSP}%<extra></extra>"))
    french(figure, title=title, x_title=x_title, y_title="")
    figure.update_yaxes(autorange="reversed")  # Monday on top, as in a diary
    return figure


def french(figure: go.Figure, *, title: str, x_title: str, y_title: str) -> go.Figure:
    figure.update_layout(title={"text": title}, separators=fmt.PLOTLY_SEPARATORS, legend_title_text="",
                         legend={"orientation": "h", "y": -0.25}, margin={"t": 60},
                         hoverlabel={"namelength": -1})
    figure.update_xaxes(type="category", title_text=x_title)
    figure.update_yaxes(title_text=y_title, rangemode="tozero")
    return figure


def show(figure: go.Figure, key: str, **kwargs: Any) -> None:
    """Without plotly's toolbar (its buttons speak English); each chart's data has its own download."""
    st.plotly_chart(figure, key=key, config={"displayModeBar": False, "locale": "fr"}, **kwargs)
