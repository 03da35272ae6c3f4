from drills.fast import main

main()
