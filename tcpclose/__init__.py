"""The tcpclose command line: a thin front door over spec/, model/ and properties/."""

__version__ = "0.1.0"
