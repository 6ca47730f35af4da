"""{{ cookiecutter.project_name|docstring }}

A reproducible ML experiment project: see README.md.
"""
