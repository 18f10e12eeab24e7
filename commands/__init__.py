"""The `loangraph` command line's parts (cli.py is the entry point): the database
the commands share, and the records-and-evidence maintenance commands."""
