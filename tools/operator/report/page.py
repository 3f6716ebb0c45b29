"""The report as one HTML file: headline figures, charts (Plotly, its JavaScript inlined once so the
file opens offline) and the same figures as tables, readable without JavaScript."""

from __future__ import annotations

import html
from decimal import Decimal
from typing import Any

from tools.operator.report.figures import Report, Totals


def money(value: Decimal) -> str:
    return f"{value:,.2f}"


def ratio(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def percent(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def _table(caption: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><caption>{html.escape(caption)}</caption><tr>{head}</tr>{body}</table>"


def _charts(report: Report) -> list[Any]:
    import plotly.graph_objects as go

    channels = list(report.by_channel)
    values = list(report.by_channel.values())
    revenue = go.Figure([go.Bar(name="GA4-reported", x=channels, y=[float(t.ga4_revenue) for t in values]),
                         go.Bar(name="CRM-final", x=channels, y=[float(t.crm_final_revenue) for t in values])],
                        layout={"title": "Revenue by channel", "barmode": "group"})
    roas = go.Figure([go.Bar(name="ROAS (GA4)", x=channels, y=[_plot(t.roas_ga4) for t in values]),
                      go.Bar(name="ROAS (CRM)", x=channels, y=[_plot(t.roas_crm) for t in values])],
                     layout={"title": "ROAS by channel (channels with cost)", "barmode": "group"})
    refunds = go.Figure([go.Bar(name="Refunded", x=channels, y=[float(t.refunded_revenue) for t in values]),
                         go.Bar(name="Cancelled", x=channels, y=[float(t.cancelled_revenue) for t in values])],
                        layout={"title": "Refunds and cancellations by channel", "barmode": "group"})
    days = [day.isoformat() for day in report.by_day]
    daily = go.Figure([go.Scatter(name=name, x=days, y=[float(getattr(t, field)) for t in report.by_day.values()],
                                  mode="lines+markers")
                       for name, field in (("GA4-reported", "ga4_revenue"), ("CRM-final", "crm_final_revenue"),
                                           ("Cost", "cost"))],
                      layout={"title": "Per day"})
    return [revenue, roas, refunds, daily]


def _plot(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _channel_rows(items: list[tuple[str, Totals]]) -> list[tuple[str, ...]]:
    return [(name, money(t.cost), money(t.ga4_revenue), money(t.crm_final_revenue), money(t.refunded_revenue),
             money(t.cancelled_revenue), ratio(t.roas_ga4), ratio(t.roas_crm)) for name, t in items]


def render(report: Report, title: str) -> str:
    """The whole page; Plotly's JavaScript is inlined in the first chart only."""
    currency = report.currency or "(no amount in the reporting currency)"
    head = report.headline
    headline = _table(f"Headline ({currency})", ("figure", "value"), [
        ("GA4-reported revenue", money(head.ga4_revenue)),
        ("CRM-final revenue", money(head.crm_final_revenue)),
        ("Gap (GA4 - CRM)", money(head.gap)),
        ("Gap in % of GA4", percent(head.gap_percent)),
        ("Cost", money(head.cost)),
        ("ROAS on GA4 revenue", ratio(head.roas_ga4)),
        ("ROAS on CRM-final revenue", ratio(head.roas_crm)),
    ])
    columns = ("", "cost", "GA4 revenue", "CRM-final revenue", "refunded", "cancelled", "ROAS GA4", "ROAS CRM")
    channels = _table("By channel", ("channel", *columns[1:]), _channel_rows(list(report.by_channel.items())))
    campaigns = _table("Campaigns whose ROAS changes most once CRM outcomes count", ("campaign", *columns[1:]),
                       _channel_rows(report.campaigns))
    apart = "".join(f"<li>{html.escape(code)}: {count} row{'s' if count != 1 else ''}</li>"
                    for code, count in report.not_converted.items())
    not_converted = ("<p>Left in their own currency (no exchange rate), not in the figures above:</p>"
                     f"<ul>{apart}</ul>" if apart else "")
    charts = [figure.to_html(full_html=False, include_plotlyjs=index == 0)
              for index, figure in enumerate(_charts(report))]
    return "\n".join([
        "<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\">", f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}caption{font-weight:bold;text-align:left}"
        "</style></head><body>",
        f"<h1>{html.escape(title)}</h1>", headline, not_converted, *charts, channels, campaigns,
        "</body></html>",
    ])
