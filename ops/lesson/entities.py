"""The restaurant and its reviews, made from the table's items."""


class Restaurant:
    def __init__(self, item):
        self.name = item["name"]["S"]
        self.cuisine = item["cuisine"]["S"]
        self.address = item["address"]["S"]
        self.reviews = []

    def __repr__(self):
        return f"Restaurant<{self.name} -- {self.cuisine}>"


class Review:
    def __init__(self, item):
        self.restaurant = item["restaurant"]["S"]
        self.username = item["username"]["S"]
        self.timestamp = item["timestamp"]["S"]
        self.rating = int(item["rating"]["N"])
        self.text = item["text"]["S"]

    def __repr__(self):
        return f"Review<{self.restaurant} -- {self.username} ({self.timestamp})>"


def restaurant_summary(items):
    """The restaurant (the first item) with its reviews (the others), newest first."""
    restaurant = Restaurant(items[0])
    restaurant.reviews = [Review(item) for item in items[1:]]
    return restaurant
