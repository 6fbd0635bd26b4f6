"""Destinations: one module per marketing tool, listed in
:mod:`reverse_etl.destinations.registry`; what they implement is in
:mod:`reverse_etl.destinations.capabilities`."""
