"""Resolvers: thin functions that parse arguments, check permission, read through
loaders or call the domain layer, and shape results."""
