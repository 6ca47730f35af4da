"""What users run by hand: `make sweep` is `python -m <package>.commands.sweep`, and so on.

They sit on top of the stages, pipeline, tracking and serving, and nothing below imports them.
"""
