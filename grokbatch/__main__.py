from grokbatch.cli import main

main()
