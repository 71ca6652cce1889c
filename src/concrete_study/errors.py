"""The errors the study reports in one line. Kept free of heavy imports: every job loads it."""


class ConfigError(ValueError):
    """The config is not a valid study."""


class DataError(ValueError):
    """The table (or rows to score) is not what the study expects."""


class ModelFileError(ValueError):
    """A model file that is not a concrete-study model, or not safe to load."""
