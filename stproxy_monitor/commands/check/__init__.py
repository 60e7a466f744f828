"""The ``check`` command: observe what the config names, evaluate rules, print."""
