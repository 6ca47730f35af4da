"""{{ cookiecutter.project_name|one_line }}: a reproducible ML experiment project."""
