"""The ``cdmer`` command line."""
