from tcpclose.cli import main

main()
