"""The commands: the daemon's composition root and the one-shot commands."""
