"""Can this host reach the cache? Prints "Connected to Redis!" when it answers PING."""

from cache import client

client.ping()
print("Connected to Redis!")
