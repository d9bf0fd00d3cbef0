"""The registry: regions, organisations, contact points, agreements, routing and identity."""
