"""Real data sets bundled with ntkmixed (plain CSV, ``NA`` for missing values).

=============  =====  ==========================================================================
name           rows   what, and where it comes from
=============  =====  ==========================================================================
penguins       344    body mass, bill and flipper sizes, species, island, sex, year of Palmer
                      Archipelago penguins; has missing values. Gorman, Williams & Fraser
                      (2014), PLoS ONE 9; R package palmerpenguins.
mcycle         133    head acceleration (``accel``, g) against time after impact (``times``, ms)
                      in simulated motorcycle crashes. Silverman (1985), JRSS B 47; R's MASS.
sleepstudy     180    reaction time (``Reaction``, ms) of 18 subjects (``Subject``) over 10 days
                      (``Days``) of sleep deprivation. Belenky et al. (2003), J. Sleep Res. 12;
                      R's lme4.
airquality     153    daily ozone, solar radiation, wind and temperature in New York, May–Sept
                      1973; many missing values. R's datasets package.
=============  =====  ==========================================================================
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

NAMES = ("penguins", "mcycle", "sleepstudy", "airquality")


def load(name: str) -> pd.DataFrame:
    """Load a bundled data set by name (a fresh DataFrame each call).

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`NAMES`.
    """
    if name not in NAMES:
        raise ValueError(f"unknown data set {name!r}; available: {list(NAMES)}")
    with resources.files(__name__).joinpath(f"{name}.csv").open("r") as fh:
        return pd.read_csv(fh)


def load_penguins() -> pd.DataFrame:
    """Palmer penguins (344 rows, missing values in sex and the measurements)."""
    return load("penguins")


def load_mcycle() -> pd.DataFrame:
    """Motorcycle crash head acceleration (133 rows)."""
    return load("mcycle")


def load_sleepstudy() -> pd.DataFrame:
    """lme4's sleepstudy (180 rows, 18 subjects × 10 days)."""
    return load("sleepstudy")


def load_airquality() -> pd.DataFrame:
    """New York air quality 1973 (153 rows, missing ozone and solar radiation)."""
    return load("airquality")
