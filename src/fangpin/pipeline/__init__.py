"""Django-free data pipeline: catalog, ingest, linkage, portraits, rules, model, screening."""
