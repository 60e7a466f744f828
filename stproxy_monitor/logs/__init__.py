"""The log wing: reading WebSphere logs into events and state (imports nothing above it)."""
