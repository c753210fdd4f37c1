"""The online controller: policies now; the service, safety envelope and adapters build on them."""
