"""What every Relay process may import: settings, ids, tables, the state vocabulary, the event envelope and
its publisher, the command bus, and the Redis key names the processes share. Nothing here imports
`relay.web`, `workers` or `webhooks`."""
