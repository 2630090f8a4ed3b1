"""The colours every chart of Konbit draws with: the Okabe-Ito palette, safe for the common
colour-vision deficiencies (Okabe & Ito 2008, "Color Universal Design").

One small module that both the analysis report's figures (:mod:`web.charts`) and the campaign
dashboard's (:mod:`web.dashboards.figures`) import, so a domain has the same colour everywhere.
"""

from __future__ import annotations

__all__ = ["DOMAIN_COLOURS", "FONT", "PALETTE", "SERIES", "WAVE_COLOURS"]

PALETTE = {"orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442", "blue": "#0072B2",
           "vermillion": "#D55E00", "purple": "#CC79A7", "grey": "#999999", "black": "#000000"}
#: Series in order (channels, segments): the palette's most distinct colours first.
SERIES = [PALETTE[c] for c in ("blue", "orange", "green", "vermillion", "purple", "sky", "yellow", "black")]
DOMAIN_COLOURS = {"knowledge": PALETTE["blue"], "attitude": PALETTE["vermillion"], "practice": PALETTE["green"]}
WAVE_COLOURS = (PALETTE["grey"], PALETTE["blue"])  # baseline, endline
FONT = {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 13}
