"""The demo's entities and their explicit dict form (used for the cache and the seed file).

`from_dict` validates everything it reads, so data from outside (the cache, a JSON file)
either becomes a well-formed entity or raises ValueError.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Tuple

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S"


def _field(data: Any, key: str, kind: type) -> Any:
    if not isinstance(data, Mapping):
        raise ValueError(f"expected an object, got {type(data).__name__}")
    if key not in data:
        raise ValueError(f"missing field {key!r}")
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"field {key!r} should be {kind.__name__}, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Restaurant:
    name: str
    cuisine: str
    address: str

    def __str__(self) -> str:
        return f"Restaurant<{self.name} -- {self.cuisine}>"

    def to_dict(self) -> dict:
        return {"name": self.name, "cuisine": self.cuisine, "address": self.address}

    @classmethod
    def from_dict(cls, data: Mapping) -> "Restaurant":
        return cls(
            name=_field(data, "name", str), cuisine=_field(data, "cuisine", str), address=_field(data, "address", str)
        )


@dataclass(frozen=True)
class Review:
    restaurant: str
    username: str
    timestamp: str  # UTC, "YYYY-MM-DDTHH:MM:SS": fixed width, so text order is time order
    rating: int
    text: str

    def __post_init__(self) -> None:
        try:
            canonical = datetime.strptime(self.timestamp, TIMESTAMP_FORMAT).strftime(TIMESTAMP_FORMAT)
        except (TypeError, ValueError):
            canonical = None
        if canonical != self.timestamp:
            raise ValueError(f"timestamp {self.timestamp!r} is not of the form 2020-05-24T11:59:44")
        if not 1 <= self.rating <= 5:
            raise ValueError(f"rating {self.rating!r} is not between 1 and 5")

    def __str__(self) -> str:
        return f"Review<{self.restaurant} -- {self.username} ({self.timestamp})>"

    def to_dict(self) -> dict:
        return {
            "restaurant": self.restaurant,
            "username": self.username,
            "timestamp": self.timestamp,
            "rating": self.rating,
            "text": self.text,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> "Review":
        return cls(
            restaurant=_field(data, "restaurant", str),
            username=_field(data, "username", str),
            timestamp=_field(data, "timestamp", str),
            rating=_field(data, "rating", int),
            text=_field(data, "text", str),
        )


@dataclass(frozen=True)
class RestaurantSummary:
    """The "Fetch Restaurant Summary" access pattern: a restaurant and its latest reviews, newest first."""

    restaurant: Restaurant
    reviews: Tuple[Review, ...]

    def __post_init__(self) -> None:
        strangers = [r for r in self.reviews if r.restaurant != self.restaurant.name]
        if strangers:
            raise ValueError(f"review {strangers[0]} is not about {self.restaurant.name!r}")

    def lines(self) -> list:
        return [str(self.restaurant)] + [str(review) for review in self.reviews]

    def to_dict(self) -> dict:
        return {"restaurant": self.restaurant.to_dict(), "reviews": [review.to_dict() for review in self.reviews]}

    @classmethod
    def from_dict(cls, data: Mapping) -> "RestaurantSummary":
        return cls(
            restaurant=Restaurant.from_dict(_field(data, "restaurant", Mapping)),
            reviews=tuple(Review.from_dict(r) for r in _field(data, "reviews", list)),
        )
