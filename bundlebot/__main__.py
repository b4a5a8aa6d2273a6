from bundlebot.cli import main

main()
