"""Pull collectors: one module per source, all implementing :class:`~agentledger.ingest.collectors.base.Collector`."""
