"""molpeft: choose extra training data and a PEFT method for MoLFormer on a molecular property.

Importing this package is cheap; heavy libraries (torch, transformers, deepchem) load in the modules that need
them. `import molpeft_cli.model` registers the native MoLFormer classes with the transformers Auto classes.
"""

__version__ = "0.1.0"
