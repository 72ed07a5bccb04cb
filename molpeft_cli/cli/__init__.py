"""The command-line layer: one thin module per subcommand that parses, calls the library and prints."""
