"""The audit harness: persona campaigns driven through real browsers into run databases.

The command line lives in :mod:`harness.cli`, the project's composition root.
"""

__all__: list[str] = []
