"""The web wing: the HTTP server, its sockets and the exporter-toolkit web config."""
