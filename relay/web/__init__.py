"""The web process: the Starlette app, its REST routes, the WebSocket feed and the services behind them.
Only `relay serve` imports this package."""
