"""The restaurant-review cache-aside demo (ElastiCache Redis in front of DynamoDB).

Nothing is imported here, so `ops --help` (which imports ops.demo.command) stays cheap: the
entities are in ops.demo.entities, the seed in ops.demo.seed, the table in ops.demo.table,
the cache in ops.demo.cache (SummaryCache) and the runnable demo in ops.demo.run (run_demo).
"""
