"""Hourly prices of what a lab leaves running, from config/pricing.yaml."""

from pathlib import Path
from typing import Any, Dict, Optional

from ..engine.yamlsource import load_yaml_file
from ..errors import BadInput

PRICING = Path(__file__).resolve().parents[2] / "config" / "pricing.yaml"


class Prices:
    def __init__(self, data: Dict[str, Any], source: str):
        self.data = data
        self.source = source

    @classmethod
    def load(cls, path: Optional[Path] = None) -> "Prices":
        path = Path(path or (PRICING if PRICING.exists() else Path.cwd() / "config" / "pricing.yaml"))
        data = load_yaml_file(path)
        if not isinstance(data, dict) or "regions" not in data:
            raise BadInput("a pricing file needs 'taken:' and 'regions:'.", "See config/pricing.yaml.", str(path))
        return cls(data, str(path))

    @property
    def taken(self) -> str:
        return str(self.data.get("taken", "unknown date"))

    def hourly(self, region: str, service: str, size: Optional[str]) -> Optional[float]:
        """USD per hour, or None when the file has no price for it."""
        price = self.data["regions"].get(region, {}).get(service, {}).get(size)
        return float(price) if price is not None else None
