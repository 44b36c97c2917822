"""python -m ops.demo --redis-url URL --table NAME [...]: the demo on a host without the ops CLI."""

from .command import cache_aside

if __name__ == "__main__":
    cache_aside(prog_name="python -m ops.demo")
