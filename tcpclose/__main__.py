from tcpclose.cli import entry

entry()
