"""Fetch a restaurant's summary twice: the first read comes from DynamoDB and fills the
cache (uncached), the second from Redis (cached). Try: python3 fetch_restaurant_summary.py "The Vineyard"
"""

import sys
import time

from cache import fetch_restaurant_summary_from_cache, store_restaurant_summary_in_cache
from dynamodb import fetch_restaurant_summary_from_db
from entities import restaurant_summary


def fetch_restaurant_summary(restaurant_name):
    items = fetch_restaurant_summary_from_cache(restaurant_name)
    if items:
        return items, "cached"
    items = fetch_restaurant_summary_from_db(restaurant_name)
    if items:
        store_restaurant_summary_in_cache(restaurant_name, items)
    return items, "uncached"


restaurant_name = sys.argv[1] if len(sys.argv) > 1 else "The Vineyard"
for _ in range(2):
    start = time.time()
    items, source = fetch_restaurant_summary(restaurant_name)
    elapsed_ms = (time.time() - start) * 1000
    if not items:
        sys.exit(f"No restaurant named {restaurant_name!r} in the table.")
    print(f"Using {source} result! ({elapsed_ms:.1f} ms)")
    restaurant = restaurant_summary(items)
    print(restaurant)
    for review in restaurant.reviews:
        print(f"  {review}")
