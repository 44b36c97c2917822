"""The commands' work, one module per verb (run and teardown: lab.py), each called by
ops/cli.py with a RunTarget and returning what the CLI renders."""
