from payreq.cli.main import main

main()
