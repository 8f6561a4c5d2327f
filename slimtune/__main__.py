from slimtune.cli import main

main()
