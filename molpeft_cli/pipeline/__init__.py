"""The whole study as a graph of `molpeft` commands: profiles, the plan, resumable execution, a Makefile."""
