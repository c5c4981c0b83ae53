from cfglang.cli import main

main()
