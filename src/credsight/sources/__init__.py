"""Where credential reports come from: files and buckets here; AWS Organizations in the collector."""
