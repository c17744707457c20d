"""One blueprint per audience: widget (readers), api (portals), site (operators)."""
