from deepfort.cli.main import main

main()
