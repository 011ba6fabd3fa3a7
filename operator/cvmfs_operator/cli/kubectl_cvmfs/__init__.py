"""``kubectl cvmfs``: the release manager's command line (docs/cli.md)."""
