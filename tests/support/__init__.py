"""What the tests share: servers they start, stores that count their calls, small apps and clients."""
