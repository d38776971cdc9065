"""Configuration: a TOML file validated into frozen, exact domain objects, or one line per problem.

Use :func:`load_config` (files) or :func:`parse_config_text` (tests, tools). Errors are raised as
:class:`pumpctl.errors.ConfigError` whose ``problems`` list holds one line per problem.
"""

from pumpctl.config.loader import load_config, parse_config_text
from pumpctl.config.sections import (
    BAUD_RATES,
    DRIVER_NAMES,
    LOG_FORMATS,
    LOG_LEVELS,
    PumpSection,
    SubjectSection,
)
from pumpctl.config.settings import (
    ENV_OVERRIDES,
    Config,
    ControlSettings,
    JournalSettings,
    LoggingSettings,
)

__all__ = [
    "BAUD_RATES",
    "DRIVER_NAMES",
    "ENV_OVERRIDES",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "Config",
    "ControlSettings",
    "JournalSettings",
    "LoggingSettings",
    "PumpSection",
    "SubjectSection",
    "load_config",
    "parse_config_text",
]
