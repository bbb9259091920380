"""Forecasting service: price series in, trained forecasters and honest forecasts out."""
