"""Re-implementations of official benchmark scoring scripts, quirks included, as pure functions.

Each module names the script and commit it reproduces. They exist so "official" numbers can be
compared with published ones; the robust scorers in the reward library are what training optimises.
"""
