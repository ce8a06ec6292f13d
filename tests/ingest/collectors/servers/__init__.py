"""Local HTTP servers implementing the documented source endpoints (loopback only), for collector tests."""
