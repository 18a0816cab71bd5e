# Generated from the async source by scripts/unasync.py: edit that file, not this one.
