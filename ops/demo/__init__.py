"""The restaurant-review cache-aside demo (ElastiCache Redis in front of DynamoDB).

Light imports only here (no boto3, no redis), so `import ops.demo.command` stays cheap.
The cache lives in ops.demo.cache (SummaryCache) and the runnable demo in ops.demo.run (run_demo).
"""

from .entities import Restaurant, RestaurantSummary, Review
from .seed import load_seed
from .table import table_definition

__all__ = ["Restaurant", "RestaurantSummary", "Review", "load_seed", "table_definition"]
