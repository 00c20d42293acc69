"""The integration suite: nodes on separate hosts (network namespaces), and their failures."""
