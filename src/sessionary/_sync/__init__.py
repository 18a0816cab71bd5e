# Generated from sessionary/_async by scripts/unasync.py: edit the async source, not this file.
