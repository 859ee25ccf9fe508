"""The pure core: decisions over plain data.

Reading and checking experiment files, verdicts, validation rules, quality
checks, the intent summary, the gate decision and its auto-fixes, lifecycle and
review decisions, toil records and option parsing. Nothing here imports
kubernetes, boto3 or pytest, so all of it is tested on the real corpus in
milliseconds.
"""
