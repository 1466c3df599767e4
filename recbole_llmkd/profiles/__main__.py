from recbole_llmkd.profiles.cli import main

main()
