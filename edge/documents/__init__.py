"""Travel documents: ICAO 9303 MRZ parsing (pure), code tables, synthetic MRZs, MRZ from images."""

from edge.documents.mrz import MrzResult, parse_mrz

__all__ = ["MrzResult", "parse_mrz"]
