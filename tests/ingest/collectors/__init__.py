"""Tests of the pull collectors, the shared contract suite and the local fake servers they run against."""
