"""Policy files shipped with the product; `default.toml` is used when none is configured."""

from importlib.resources import files

DEFAULT_POLICY = files(__name__) / "default.toml"
